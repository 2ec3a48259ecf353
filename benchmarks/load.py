"""A small HTTP/1.1 load client, for machines without wrk: ``python -m benchmarks.load URL C SECONDS``.

``C`` keep-alive connections, each sending ``GET`` after ``GET`` for
``SECONDS``; prints one JSON line: requests completed, requests/s, latency
percentiles (ms), non-200 responses, socket errors, and whether every body
was the expected one.  One asyncio event loop in one process: on a 2-core
machine it tops out around 10,000 requests/s, well above what the
benchmark's 10 ms application lets one worker do at 100 connections, and it
says so (``client_bound``) when it was the limit.
"""

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def _connection(host, port, path, deadline, latencies, counts, expect):
    request = f'GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n'.encode()
    reader = writer = None
    while time.monotonic() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            t0 = time.monotonic()
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionError('closed')
            length, close = 0, False
            while True:
                line = await reader.readline()
                if line in (b'\r\n', b''):
                    break
                name, _, value = line.partition(b':')
                name = name.strip().lower()
                if name == b'content-length':
                    length = int(value)
                elif name == b'connection' and value.strip().lower() == b'close':
                    close = True
            body = await reader.readexactly(length)
            latencies.append(time.monotonic() - t0)
            if status_line.split()[1] != b'200':
                counts['non_200'] += 1
            elif expect is not None and body != expect:
                counts['wrong_body'] += 1
            if close:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            counts['errors'] += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def _run(url, connections, seconds, expect):
    parts = urlsplit(url)
    latencies = []
    counts = {'non_200': 0, 'errors': 0, 'wrong_body': 0}
    t0 = time.monotonic()
    deadline = t0 + seconds
    await asyncio.gather(*(_connection(parts.hostname, parts.port, parts.path or '/', deadline,
                                       latencies, counts, expect) for _ in range(connections)))
    elapsed = time.monotonic() - t0
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else None
    cpu = time.process_time()
    return {'requests': len(latencies), 'seconds': elapsed, 'rps': len(latencies) / elapsed,
            'p50_ms': pct(0.50), 'p99_ms': pct(0.99), 'non_200': counts['non_200'],
            'errors': counts['errors'], 'wrong_body': counts['wrong_body'],
            'client_bound': cpu > 0.9 * elapsed}


def run(url, connections, seconds, expect=None):
    """Load ``url`` from ``connections`` keep-alive connections for ``seconds``; the figures."""
    return asyncio.run(_run(url, connections, seconds, expect))


def main():
    url, connections, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    expect = sys.argv[4].encode() if len(sys.argv) > 4 else None
    print(json.dumps(run(url, connections, seconds, expect)))


if __name__ == '__main__':
    main()
