"""greenthreads.gunicorn.Worker under real gunicorn: an arbiter and its workers in subprocesses.

Each test starts ``python -m gunicorn -k greenthreads.gunicorn.Worker`` on a
free port of 127.0.0.1 with the applications in tests/apps, and talks HTTP to
it from this process (asyncio streams for many connections at once: a client
that shares no code with the server).  Outcomes are checked, not times: "a
slow request does not delay the others" means the others were answered, by
the same worker, while the slow one was still unanswered.
"""

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

gunicorn = pytest.importorskip('gunicorn', reason='gunicorn is not installed (pip install -e .[test])')

APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'apps')
WORKER = 'greenthreads.gunicorn.Worker'


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Server:
    """A gunicorn arbiter running ``app`` with our worker; its logs in ``tmp_path``."""

    def __init__(self, tmp_path, app='wsgi_apps:app', workers=2, args=(), env=None):
        self.port = _free_port()
        self.log = tmp_path / 'error.log'
        self.access = tmp_path / 'access.log'
        cmd = [sys.executable, '-m', 'gunicorn', '-k', WORKER, '-w', str(workers),
               '-b', f'127.0.0.1:{self.port}', '--chdir', APPS,
               '--error-logfile', str(self.log), '--access-logfile', str(self.access),
               '--log-level', 'debug', *args, app]
        environ = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path), HOME=str(tmp_path), **(env or {}))
        self.proc = subprocess.Popen(cmd, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.workers = workers
        try:
            self._wait_ready(workers)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise

    def _wait_ready(self, workers):
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f'gunicorn exited {self.proc.returncode}:\n{self.logs()}')
            if time.monotonic() > deadline:
                raise AssertionError(f'gunicorn never answered:\n{self.logs()}')
            try:
                self.get('/')             # any answer: an application may have no "/"
                if self.booted() >= workers:
                    return
            except OSError:
                pass
            time.sleep(0.1)

    def get(self, path, timeout=30):
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)
        try:
            conn.request('GET', path)
            reply = conn.getresponse()
            return reply.status, reply.read()
        finally:
            conn.close()

    def booted(self):
        return self.logs().count('Booting worker with pid')

    def logs(self):
        try:
            return self.log.read_text()
        except FileNotFoundError:
            return ''

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f'gunicorn did not stop on {sig!r}:\n{self.logs()}')


@pytest.fixture
def start(tmp_path):
    servers = []

    def start(**kwargs):
        server = Server(tmp_path, **kwargs)
        servers.append(server)
        return server
    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


# -------------------------------------------------------------- an HTTP client
async def _exchange(reader, writer, path, method='GET', body=b''):
    """One request on an open keep-alive connection: (status, headers, body)."""
    head = f'{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n\r\n'
    writer.write(head.encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError('closed before a response')
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b'\r\n', b''):
            break
        name, value = line.decode('latin-1').split(':', 1)
        headers[name.strip().lower()] = value.strip()
    data = await reader.readexactly(int(headers.get('content-length', 0)))
    return int(status_line.split()[1]), headers, data


async def _client(port, paths):
    """Open one connection and make the requests of ``paths`` on it, in turn."""
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    try:
        return [await _exchange(reader, writer, path) for path in paths]
    finally:
        writer.close()


def _pid(body):
    return int(body.split()[-1])


# ------------------------------------------------------------------- the tests
@pytest.mark.timeout(180)
def test_a_thousand_concurrent_keep_alive_clients(start):
    server = start(args=['--worker-connections', '1000', '--keep-alive', '30', '--backlog', '2048'])
    clients, requests_each = 1000, 3

    async def main():
        # All connected first (each waits in a /sleep on its first request
        # until every other one has connected), then more requests on each.
        return await asyncio.gather(*(
            _client(server.port, ['/sleep/0.5'] + ['/'] * (requests_each - 1) + ['/sleep/0.01'])
            for _ in range(clients)))
    results = asyncio.run(main())
    pids = set()
    for replies in results:
        assert len(replies) == requests_each + 1
        for status, headers, body in replies:
            assert status == 200, (status, body)
            pids.add(_pid(body))
        # one connection throughout: the worker that took it answered each request
        assert len({_pid(body) for _s, _h, body in replies}) == 1
        assert replies[0][2].startswith(b'slept 0.5 ') and replies[1][2].startswith(b'hello ')
    assert len(pids) == 2       # both workers served
    assert server.stop() == 0
    assert 'Traceback' not in server.logs()


@pytest.mark.timeout(120)
def test_a_slow_request_does_not_delay_the_others(start):
    server = start(workers=1)

    async def main():
        slow = asyncio.ensure_future(_client(server.port, ['/sleep/5']))
        await asyncio.sleep(0.3)        # (the slow one is in, sleeping)
        fast = await asyncio.gather(*(_client(server.port, ['/', '/echo']) for _ in range(50)))
        answered_while_slow_pending = not slow.done()
        return answered_while_slow_pending, fast, await slow
    pending, fast, slow = asyncio.run(main())
    assert pending, 'the fast requests were answered only after the slow one'
    assert all(status == 200 for replies in fast for status, _h, _b in replies)
    assert slow[0][0] == 200 and slow[0][2].startswith(b'slept 5 ')
    assert {_pid(r[0][2]) for r in fast} == {_pid(slow[0][2])}     # one worker did all
    server.stop()


@pytest.mark.timeout(120)
def test_graceful_stop_finishes_requests_in_flight_and_closes_idle_ones(start):
    server = start(workers=2, args=['--graceful-timeout', '20', '--keep-alive', '30'])

    async def main():
        idle_reader, idle_writer = await asyncio.open_connection('127.0.0.1', server.port)
        first = await _exchange(idle_reader, idle_writer, '/')     # now idle, kept alive
        in_flight = [asyncio.ensure_future(_client(server.port, ['/sleep/2'])) for _ in range(20)]
        await asyncio.sleep(0.5)        # (all of them in, sleeping)
        server.proc.send_signal(signal.SIGTERM)
        # The idle connection is closed by the server long before the keep-alive ends.
        closed = await asyncio.wait_for(idle_reader.read(), 15)
        done = await asyncio.gather(*in_flight, return_exceptions=True)
        return first, closed, done
    first, closed, done = asyncio.run(main())
    assert first[0] == 200 and closed == b''
    for replies in done:
        assert not isinstance(replies, BaseException), replies
        assert replies[0][0] == 200 and replies[0][2].startswith(b'slept 2 '), replies
    assert server.proc.wait(30) == 0
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', server.port), timeout=5).close()
    assert 'graceful timeout' not in server.logs()


@pytest.mark.timeout(180)
def test_max_requests_recycles_workers_without_failing_a_request(start):
    server = start(workers=2, args=['--max-requests', '20', '--max-requests-jitter', '5'])
    total = 300

    async def main():
        # 10 clients at a time, each request on its own connection, as a
        # client that was told "Connection: close" reconnects.
        sem = asyncio.Semaphore(10)

        async def one(i):
            async with sem:
                return (await _client(server.port, ['/sleep/0.01' if i % 2 else '/']))[0]
        return await asyncio.gather(*(one(i) for i in range(total)))
    replies = asyncio.run(main())
    failed = [(i, status, body) for i, (status, _h, body) in enumerate(replies) if status != 200]
    assert not failed, f'{failed}\n{server.logs()[-3000:]}'
    pids = {_pid(body) for _s, _h, body in replies}
    assert len(pids) >= 300 // 25        # workers were replaced along the way
    assert 'Autorestarting worker after current request' in server.logs()
    server.stop()


@pytest.mark.timeout(120)
def test_a_request_that_holds_the_os_thread_past_timeout_gets_the_worker_replaced(start):
    server = start(workers=1, args=['--timeout', '2', '--graceful-timeout', '1'])
    _status, body = server.get('/')
    old_pid = _pid(body)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        server.get('/spin/30', timeout=60)       # the arbiter kills it mid-spin
    status, body = server.get('/')
    assert status == 200 and _pid(body) != old_pid
    assert 'WORKER TIMEOUT' in server.logs()
    server.stop()


def test_keep_alive_chunked_bodies_file_wrapper_and_the_access_log(start):
    server = start(workers=1)
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=30)
    conn.request('GET', '/chunks/3')
    reply = conn.getresponse()
    assert reply.getheader('Transfer-Encoding') == 'chunked'
    assert reply.read() == b'chunk 0\nchunk 1\nchunk 2\n'
    conn.request('GET', '/file')                # same connection: kept alive
    reply = conn.getresponse()
    with open(os.path.join(APPS, 'wsgi_apps.py'), 'rb') as f:
        assert reply.read() == f.read()
    conn.request('POST', '/echo', body=b'x' * 100_000)
    assert conn.getresponse().read() == b'x' * 100_000
    conn.close()
    # Request limits are gunicorn's own: a request line over the limit is refused.
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=30)
    conn.request('GET', '/' + 'a' * 5000)
    assert conn.getresponse().status == 414
    conn.close()
    server.stop()
    log = server.access.read_text()
    assert '"GET /chunks/3 HTTP/1.1" 200' in log and '"POST /echo HTTP/1.1" 200' in log


def test_quick_stop_on_sigquit(start):
    server = start(workers=1)

    async def main():
        slow = asyncio.ensure_future(_client(server.port, ['/sleep/30']))
        await asyncio.sleep(0.5)
        server.proc.send_signal(signal.SIGQUIT)
        return await asyncio.gather(slow, return_exceptions=True)
    [outcome] = asyncio.run(main())
    assert isinstance(outcome, (ConnectionError, asyncio.IncompleteReadError)), outcome
    assert server.proc.wait(20) == 0


class _Backend(BaseHTTPRequestHandler):
    """``/item/N`` -> ``{"n": N}`` after 0.3 s; counts the requests it serves at once."""

    active = 0
    most = 0
    lock = threading.Lock()

    def do_GET(self):
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.most = max(cls.most, cls.active)
        try:
            time.sleep(0.3)
            body = json.dumps({'n': int(self.path.rsplit('/', 1)[1])}).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with cls.lock:
                cls.active -= 1

    def log_message(self, *args):
        pass


@pytest.mark.timeout(120)
def test_a_flask_app_calling_a_backend_with_requests(start):
    pytest.importorskip('flask')
    pytest.importorskip('requests')
    backend = ThreadingHTTPServer(('127.0.0.1', 0), _Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        server = start(app='flask_app:app', workers=1,
                       env={'BACKEND_URL': f'http://127.0.0.1:{backend.server_port}'})

        async def main():
            return await asyncio.gather(*(_client(server.port, [f'/proxy/{n}']) for n in range(40)))
        replies = asyncio.run(main())
        for n, [(status, _h, body)] in enumerate(replies):
            assert status == 200, body
            assert json.loads(body)['item'] == {'n': n}
        # One worker, one OS thread: the backend calls overlapped all the same.
        assert _Backend.most > 10, _Backend.most
        server.stop()
    finally:
        backend.shutdown()
        backend.server_close()


@pytest.mark.timeout(120)
def test_worker_connections_caps_the_connections_served_at_once(start):
    server = start(workers=1, args=['--worker-connections', '5'])

    async def main():
        slow = [asyncio.ensure_future(_client(server.port, ['/sleep/3'])) for _ in range(5)]
        await asyncio.sleep(1)              # (the five are in, sleeping)
        sixth = asyncio.ensure_future(_client(server.port, ['/']))
        await asyncio.sleep(1)
        waited = not sixth.done() and not any(t.done() for t in slow)
        return waited, await asyncio.gather(*slow), await sixth
    waited, slow, sixth = asyncio.run(main())
    assert waited, 'a sixth connection was served while five held every slot'
    assert all(replies[0][0] == 200 for replies in slow) and sixth[0][0] == 200
    server.stop()


@pytest.mark.timeout(120)
def test_sighup_replaces_the_workers_without_failing_a_request(start):
    server = start(workers=2)
    old = {_pid(server.get('/')[1]) for _ in range(20)}

    async def main():
        async def steady():
            out = []
            for _ in range(60):
                out += await _client(server.port, ['/sleep/0.05'])
            return out
        clients = [asyncio.ensure_future(steady()) for _ in range(5)]
        await asyncio.sleep(0.5)
        server.proc.send_signal(signal.SIGHUP)
        return await asyncio.gather(*clients)
    replies = [r for client in asyncio.run(main()) for r in client]
    assert all(status == 200 for status, _h, _b in replies)
    new = {_pid(body) for _s, _h, body in replies[-20:]}
    assert new and not new & old, (old, new)        # the last answers came from new workers
    assert 'Handling signal: hup' in server.logs()
    server.stop()


@pytest.mark.timeout(120)
def test_sigquit_during_a_graceful_stop_stops_at_once(start):
    server = start(workers=1, args=['--graceful-timeout', '60'])

    async def main():
        slow = asyncio.ensure_future(_client(server.port, ['/sleep/60']))
        await asyncio.sleep(0.5)
        worker = int(server.logs().split('Booting worker with pid: ')[1].split()[0])
        os.kill(worker, signal.SIGTERM)     # the worker alone: a graceful stop...
        await asyncio.sleep(0.5)
        os.kill(worker, signal.SIGQUIT)     # ...cut short
        return await asyncio.gather(slow, return_exceptions=True)
    [outcome] = asyncio.run(main())
    assert isinstance(outcome, (ConnectionError, asyncio.IncompleteReadError)), outcome
    server.stop()
