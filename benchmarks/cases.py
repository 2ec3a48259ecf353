"""The benchmark workloads, written once against a threading-shaped API.

``api`` has ``Thread(target, args)`` (start/join), ``Event``, ``Lock``, ``RLock``,
``Queue`` and ``sleep``.  For OS threads, greenthreads and the monkey-patched
anchors it is just ``threading``/``queue``/``time`` (so the very same
unmodified threading code runs on each); for gevent's native API it is
gevent's own classes.  asyncio gets coroutine versions of the same shapes.

Every case returns a dict: ``ops`` (how many operations the time covers) plus
any extra measurement (fairness, memory).
"""

import asyncio
import os
import resource


def spawn_join(api, n):
    """Start n threads that do nothing, then join them all."""
    def nothing():
        pass
    threads = [api.Thread(target=nothing) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {'ops': n}


def switch(api, n):
    """Two threads hand control back and forth n times through a pair of Events."""
    ping, pong = api.Event(), api.Event()

    def other():
        for _ in range(n):
            ping.wait()
            ping.clear()
            pong.set()
    t = api.Thread(target=other)
    t.start()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    t.join()
    return {'ops': n}


def lock_uncontended(api, n):
    """n times ``with lock: pass`` in one thread."""
    lock = api.Lock()
    for _ in range(n):
        with lock:
            pass
    return {'ops': n}


def rlock_uncontended(api, n):
    """n times ``with rlock: pass`` in one thread."""
    lock = api.RLock()
    for _ in range(n):
        with lock:
            pass
    return {'ops': n}


def lock_contended(api, n, threads=4):
    """``threads`` threads each n times ``with lock: sleep(0)``; also how often ownership moves."""
    lock = api.Lock()
    order = []

    def worker(i):
        for _ in range(n):
            with lock:
                order.append(i)
                api.sleep(0)
    ts = [api.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {'ops': n * threads, 'handoff_ratio': _handoff_ratio(order, threads)}


def _handoff_ratio(order, threads):
    # Of the releases made while every thread still had work (so someone was
    # waiting), the share after which another thread got the lock.
    counts = {i: order.count(i) for i in range(threads)}
    seen = {i: 0 for i in range(threads)}
    changes = total = 0
    for a, b in zip(order, order[1:]):
        seen[a] += 1
        if all(seen[i] < counts[i] for i in range(threads)):
            total += 1
            changes += a != b
    return changes / total if total else 1.0


def queue(api, n):
    """One producer puts n items into a Queue; one consumer gets them."""
    q = api.Queue()

    def consumer():
        get = q.get
        for _ in range(n):
            get()
    t = api.Thread(target=consumer)
    t.start()
    put = q.put
    for i in range(n):
        put(i)
    t.join()
    return {'ops': n}


def echo(api, n, trips=200, size=64):
    """n connections, a thread each on both sides, each doing ``trips`` round trips of ``size`` bytes.

    Plain blocking-socket code: a listener thread accepts and starts a handler
    thread per connection (what ``socketserver.ThreadingTCPServer`` does).
    """
    if getattr(api, 'StreamServer', None) is not None:
        return _echo_stream_server(api, n, trips, size)
    socket = api.socket
    listener = socket.create_server(('127.0.0.1', 0), backlog=n)
    port = listener.getsockname()[1]
    handlers = []

    def handle(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    def serve():
        for _ in range(n):
            conn, _addr = listener.accept()
            t = api.Thread(target=handle, args=(conn,))
            t.start()
            handlers.append(t)
    acceptor = api.Thread(target=serve)
    acceptor.start()
    clients = [api.Thread(target=_echo_client, args=(socket, port, trips, size)) for _ in range(n)]
    for t in clients:
        t.start()
    for t in clients + [acceptor] + handlers:
        t.join()
    listener.close()
    return {'ops': n * trips}


def _echo_client(socket, port, trips, size):
    payload = b'x' * size
    s = socket.create_connection(('127.0.0.1', port))
    with s:
        for _ in range(trips):
            s.sendall(payload)
            got = 0
            while got < size:
                got += len(s.recv(size - got))


def _echo_stream_server(api, n, trips, size):
    # gevent's native server: the anchor the issue names for this case.
    def handle(conn, _addr):
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)
    server = api.StreamServer(('127.0.0.1', 0), handle, backlog=n)
    server.start()
    port = server.server_port
    clients = [api.Thread(target=_echo_client, args=(api.socket, port, trips, size))
               for _ in range(n)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    server.stop()
    return {'ops': n * trips}


def sleepers(api, n, seconds=1.0):
    """n threads each sleep ``seconds``: time to finish, and peak memory per thread."""
    base = _rss_kb()
    threads = [api.Thread(target=api.sleep, args=(seconds,)) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {'ops': n, 'kb_per_thread': (peak - base) / n}


def _rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


# ------------------------------------------------------------------ asyncio
class AsyncioCases:
    """The same shapes as coroutines: tasks for threads, asyncio's own primitives."""

    @staticmethod
    async def spawn_join(n):
        async def nothing():
            pass
        tasks = [asyncio.ensure_future(nothing()) for _ in range(n)]
        for t in tasks:
            await t
        return {'ops': n}

    @staticmethod
    async def switch(n):
        ping, pong = asyncio.Event(), asyncio.Event()

        async def other():
            for _ in range(n):
                await ping.wait()
                ping.clear()
                pong.set()
        t = asyncio.ensure_future(other())
        for _ in range(n):
            ping.set()
            await pong.wait()
            pong.clear()
        await t
        return {'ops': n}

    @staticmethod
    async def lock_uncontended(n):
        lock = asyncio.Lock()
        for _ in range(n):
            async with lock:
                pass
        return {'ops': n}

    rlock_uncontended = None  # asyncio has no reentrant lock

    @staticmethod
    async def lock_contended(n, threads=4):
        lock = asyncio.Lock()
        order = []

        async def worker(i):
            for _ in range(n):
                async with lock:
                    order.append(i)
                    await asyncio.sleep(0)
        await asyncio.gather(*(worker(i) for i in range(threads)))
        return {'ops': n * threads, 'handoff_ratio': _handoff_ratio(order, threads)}

    @staticmethod
    async def queue(n):
        q = asyncio.Queue()

        async def consumer():
            for _ in range(n):
                await q.get()
        t = asyncio.ensure_future(consumer())
        for i in range(n):
            await q.put(i)
        await t
        return {'ops': n}

    @staticmethod
    async def echo(n, trips=200, size=64):
        async def handle(reader, writer):
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, '127.0.0.1', 0, backlog=n)
        port = server.sockets[0].getsockname()[1]
        payload = b'x' * size

        async def client():
            reader, writer = await asyncio.open_connection('127.0.0.1', port)
            for _ in range(trips):
                writer.write(payload)
                await reader.readexactly(size)
            writer.close()
            await writer.wait_closed()
        await asyncio.gather(*(client() for _ in range(n)))
        server.close()
        await server.wait_closed()
        return {'ops': n * trips}

    @staticmethod
    async def sleepers(n, seconds=1.0):
        base = _rss_kb()
        await asyncio.gather(*(asyncio.sleep(seconds) for _ in range(n)))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {'ops': n, 'kb_per_thread': (peak - base) / n}


CASES = ['spawn_join', 'switch', 'lock_uncontended', 'rlock_uncontended', 'lock_contended',
         'queue', 'echo', 'sleepers']

#: Operations per run, by case; OS threads get fewer where the issue says so
#: or where a run would take far longer than the others (per-op figures are
#: compared, so the counts need not match).
SIZES = {
    'spawn_join': {'default': 100_000, 'threading': 10_000},
    'switch': {'default': 200_000, 'threading': 20_000},
    'lock_uncontended': {'default': 1_000_000},
    'rlock_uncontended': {'default': 1_000_000},
    'lock_contended': {'default': 50_000, 'threading': 2_000},
    'queue': {'default': 200_000},
    # connections (x 200 round trips of 64 bytes); OS threads: 1 thread per side each
    'echo': {'default': 500, 'threading': 100},
    # The patched anchors re-scan every live thread on each start/stop (CPython
    # 3.9-3.12 threading), so 100,000 of them take minutes: they get 20,000.
    'sleepers': {'default': 100_000, 'threading': 10_000, 'gevent-patched': 20_000,
                 'eventlet-patched': 20_000},
}


def size(case, backend):
    sizes = SIZES[case]
    return sizes.get(backend, sizes['default'])
