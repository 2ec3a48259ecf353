"""pytest-benchmark suites: every case on every backend, each backend in its own process.

    pytest benchmarks/ --benchmark-only

Anchors that are not installed (gevent, eventlet: the ``bench`` extra) are
skipped, and so are cases a backend does not have (the ``greenlet`` limit has
only ``switch``).  The timed call is a round trip to the backend's worker process; the
workloads take 10 ms to seconds, so the pipe adds noise well under 1 %.
``extra_info`` carries the worker's own timing (``us_per_op``) and measures
such as lock fairness.  Nothing here asserts a timing.
"""

import pytest

from benchmarks import cases
from benchmarks.runner import Worker, available
from benchmarks.worker import BACKENDS, supports

_workers = {}


@pytest.fixture(scope='session', autouse=True)
def _close_workers():
    yield
    for w in _workers.values():
        w.close()


def _worker(backend):
    if backend not in _workers:
        _workers[backend] = Worker(backend)
    return _workers[backend]


@pytest.mark.timeout(600)
@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('case', [c for c in cases.CASES if c != 'sleepers'])
def test_case(benchmark, backend, case):
    if not available(backend):
        pytest.skip(f'{backend} is not installed (pip install -e .[bench])')
    if not supports(backend, case):
        pytest.skip(f'{backend} has no {case}')
    worker = _worker(backend)
    n = cases.size(case, backend)
    results = []
    benchmark.pedantic(lambda: results.append(worker.run(case, n)), rounds=3, iterations=1)
    last = results[-1]
    benchmark.extra_info.update({k: v for k, v in last.items() if k != 'seconds'})
    benchmark.extra_info['us_per_op'] = min(r['seconds'] for r in results) / last['ops'] * 1e6


@pytest.mark.timeout(600)
@pytest.mark.parametrize('backend', BACKENDS)
def test_sleepers(benchmark, backend):
    if not available(backend):
        pytest.skip(f'{backend} is not installed (pip install -e .[bench])')
    if not supports(backend, 'sleepers'):
        pytest.skip(f'{backend} has no sleepers')
    n = cases.size('sleepers', backend)
    results = []

    def one_run():
        with Worker(backend) as w:   # fresh process: peak RSS is this run's
            results.append(w.run('sleepers', n))
    benchmark.pedantic(one_run, rounds=1, iterations=1)
    benchmark.extra_info.update(results[-1])


# ------------------------------------------------------- each case checks its result
# Small runs of every case, then fake APIs that do less work than they claim:
# a case must catch that itself, so a broken fast path cannot look fast.

SMALL = {'spawn_join': 50, 'switch': 100, 'lock_uncontended': 100, 'rlock_uncontended': 100,
         'lock_contended': 30, 'queue': 200, 'echo': 4, 'echo_4000': 4, 'sleepers': 20}
SMALL_KWARGS = {'echo': {'trips': 5}, 'echo_4000': {'trips': 5}, 'sleepers': {'seconds': 0.05}}


def _threading_api():
    from benchmarks.worker import setup
    return setup('threading')   # patches nothing: plain threading/queue/socket


def _greenlet_api():
    from benchmarks.worker import setup
    return setup('greenlet')    # patches nothing: bare greenlets


@pytest.mark.parametrize('case', cases.CASES)
def test_check_passes_in_process(case):
    result = getattr(cases, case)(_threading_api(), SMALL[case], **SMALL_KWARGS.get(case, {}))
    assert result['ops'] >= SMALL[case]
    fn = getattr(cases.AsyncioCases, case)
    if fn is not None:
        import asyncio
        asyncio.run(fn(SMALL[case], **SMALL_KWARGS.get(case, {})))
    if supports('greenlet', case):
        assert getattr(cases, case)(_greenlet_api(), SMALL[case])['ops'] == SMALL[case]


@pytest.mark.timeout(120)
@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('case', cases.CASES)
def test_check_passes_in_worker(backend, case):
    if not available(backend):
        pytest.skip(f'{backend} is not installed (pip install -e .[bench])')
    result = _worker(backend).run(case, SMALL[case], **SMALL_KWARGS.get(case, {}))
    if not supports(backend, case):     # e.g. asyncio has no rlock_uncontended
        assert result is None
        return
    assert result['seconds'] > 0 and result['ops'] >= SMALL[case]
    if backend == 'greenthreads-pure':
        assert result['compiled'] is False
    elif backend == 'greenthreads':
        assert isinstance(result['compiled'], bool)     # as built: the table says which
    else:
        assert 'compiled' not in result


class _NoRunThread:
    """A Thread whose start() does not run the target (a broken spawn fast path)."""

    def __init__(self, target=None, args=()):
        pass

    def start(self):
        pass

    def join(self, timeout=None):
        pass


def _fake_api(base=None, **overrides):
    base = base or _threading_api()
    return type('FakeApi', (base,), {k: staticmethod(v) if callable(v) and not isinstance(v, type)
                                     else v for k, v in overrides.items()})


def _raises(case, api, n, match, **kwargs):
    with pytest.raises(cases.BenchmarkError, match=match) as info:
        getattr(cases, case)(api, n, **kwargs)
    assert str(info.value).startswith(case + ':')
    return info.value


def test_spawn_join_catches_threads_that_never_ran():
    _raises('spawn_join', _fake_api(Thread=_NoRunThread), 10,
            r'threads whose target ran: expected 10, got 0')


def test_queue_catches_a_dropped_item():
    import queue

    class DroppingQueue(queue.Queue):
        def put(self, item, block=True, timeout=None):
            if item != 7:
                super().put(item, block, timeout)
    _raises('queue', _fake_api(Queue=DroppingQueue), 20, r'item 8 at position 7')


def test_queue_catches_an_extra_item():
    import queue

    class DoublingQueue(queue.Queue):
        def put(self, item, block=True, timeout=None):
            super().put(item, block, timeout)
            if item == 19:
                super().put(item, block, timeout)
    _raises('queue', _fake_api(Queue=DoublingQueue), 20, r'items left in the queue: expected 0, got 1')


def test_echo_catches_clients_that_never_ran():
    _raises('echo', _fake_api(Thread=_NoRunThread), 3, r'clients that finished: expected 3, got 0',
            trips=2)


def test_echo_catches_wrong_bytes():
    import socket as real_socket

    class Conn:     # the server side sends each chunk back reversed: right length, wrong bytes
        def __init__(self, conn):
            self._conn = conn

        def __getattr__(self, name):
            return getattr(self._conn, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._conn.close()

        def sendall(self, data):
            self._conn.sendall(data[::-1])

    class Listener:
        def __init__(self, sock):
            self._sock = sock

        def __getattr__(self, name):
            return getattr(self._sock, name)

        def accept(self):
            conn, addr = self._sock.accept()
            return Conn(conn), addr

    class Socket:
        create_connection = staticmethod(real_socket.create_connection)

        @staticmethod
        def create_server(*args, **kwargs):
            return Listener(real_socket.create_server(*args, **kwargs))
    _raises('echo', _fake_api(socket=Socket), 2, r'client 0 last reply', trips=3)


def test_lock_checks_catch_a_lock_that_does_not_lock():
    class NoLock:
        def acquire(self, blocking=True, timeout=-1):
            return True

        def release(self):
            pass

        def __enter__(self):
            return True

        def __exit__(self, *exc):
            pass
    _raises('lock_uncontended', _fake_api(Lock=NoLock), 10,
            r'acquire\(blocking=False\) inside a with-block: expected False, got True')
    _raises('rlock_uncontended', _fake_api(RLock=NoLock), 10,
            r'acquire\(blocking=False\) inside a with-block: expected False, got True')
    # lock_contended: a barrier in sleep(0) makes every thread read the shared
    # counter before any writes it back, as an unlocked interleaving can.
    import threading
    barrier = threading.Barrier(4)
    _raises('lock_contended', _fake_api(Lock=NoLock, sleep=lambda s: barrier.wait(10)), 5,
            r'lost updates mean no mutual exclusion\): expected 20, got 5', threads=4)


def test_greenlet_switch_catches_a_switch_that_does_not_hand_off():
    import greenlet

    class NoSwitch(greenlet.greenlet):
        """switch() returns at once: the other greenlet never runs."""

        def switch(self, *args, **kwargs):
            return None
    _raises('switch', _fake_api(_greenlet_api(), greenlet=NoSwitch), 10,
            r"the other greenlet's handoffs: expected 10, got 0")


def test_greenlet_switch_catches_handoffs_out_of_step():
    import greenlet

    class SkipsFirst(greenlet.greenlet):
        """The first switch() does not hand off; the rest do (and one more)."""
        skipped = False

        def switch(self, *args, **kwargs):
            if not self.skipped:
                self.skipped = True
                return None
            return super().switch(*args, **kwargs)
    _raises('switch', _fake_api(_greenlet_api(), greenlet=SkipsFirst), 10,
            r'handoffs out of step: expected 0, got 10')


def test_sleepers_catches_a_sleep_that_does_not_sleep():
    _raises('sleepers', _fake_api(sleep=lambda s: None), 5,
            r'elapsed wall time: expected at least 0.2 s', seconds=0.2)


def test_worker_reports_a_failed_check_without_a_time(monkeypatch, capsys):
    import io
    import json
    import queue
    from benchmarks import worker

    class DroppingQueue(queue.Queue):
        def put(self, item, block=True, timeout=None):
            if item != 3:
                super().put(item, block, timeout)
    api = _fake_api(Queue=DroppingQueue)
    monkeypatch.setattr(worker, 'setup', lambda backend: api)
    monkeypatch.setattr('sys.argv', ['worker', 'threading'])
    monkeypatch.setattr('sys.stdin', io.StringIO(json.dumps({'case': 'queue', 'n': 10}) + '\n'))
    worker.main()
    answer = json.loads(capsys.readouterr().out)
    assert 'seconds' not in answer
    assert answer['error'].startswith('BenchmarkError: queue: items received, in order')


def test_pure_backend_refuses_to_time_the_compiled_build(monkeypatch):
    import greenthreads
    from benchmarks import worker
    monkeypatch.setattr(greenthreads, 'compiled', True)
    with pytest.raises(cases.BenchmarkError, match=r'greenthreads-pure: greenthreads.compiled is True'):
        worker.run_case('greenthreads-pure', _threading_api(), 'switch', 10)
    assert worker.run_case('greenthreads', _threading_api(), 'switch', 10)['compiled'] is True


def test_only_the_pure_backend_gets_pure_python_mode(monkeypatch):
    from benchmarks.runner import worker_env
    monkeypatch.setenv('GREENTHREADS_PURE_PYTHON', '1')     # the caller's shell asks for it
    assert worker_env('greenthreads-pure')['GREENTHREADS_PURE_PYTHON'] == '1'
    assert 'GREENTHREADS_PURE_PYTHON' not in worker_env('greenthreads')


def _synthetic_med():
    # greenthreads compiled; pure twice as slow; the limits and anchors made up.
    med = {}
    for case, figures in {
            'switch': {'greenthreads': 1.0, 'greenthreads-pure': 2.0, 'gevent': 4.0,
                       'gevent-patched': 5.0, 'greenlet': 0.25},
            'lock_uncontended': {'greenthreads': 0.2, 'greenthreads-pure': 0.4, 'threading': 0.1,
                                 'gevent': 0.15},
            'rlock_uncontended': {'greenthreads': 0.1, 'greenthreads-pure': 0.5, 'threading': 0.1},
            'echo': {'greenthreads': 10.0, 'greenthreads-pure': 30.0, 'gevent': 20.0}}.items():
        for backend, us in figures.items():
            med[(case, backend)] = {'n': 10, 'us': us, 'seconds': us * 1e-5}
            if backend.startswith('greenthreads'):
                med[(case, backend)]['compiled'] = backend == 'greenthreads'
    med[('lock_contended', 'greenthreads')] = {'n': 10, 'us': 3.0, 'seconds': 1e-4,
                                               'handoff_ratio': 1.0, 'compiled': True}
    med[('lock_contended', 'greenthreads-pure')] = {'n': 10, 'us': 6.0, 'seconds': 1e-4,
                                                    'handoff_ratio': 0.5, 'compiled': False}
    return med


def _rows(md):
    # The cells of every markdown table row in md, separator rows left out.
    return [[c.strip() for c in line.strip('|').split('|')] for line in md.splitlines()
            if line.startswith('| ')]


def test_tables_show_limits_pure_python_and_issue_12_targets():
    from benchmarks import compare
    info = {'date': 'today', 'cpu': 'cpu', 'cores': 2, 'python': '3.x', 'versions': {}}
    backends = ['greenthreads', 'greenthreads-pure', 'threading', 'gevent', 'gevent-patched',
                'greenlet']
    md = compare.table(backends, _synthetic_med(), info, 1)
    assert 'greenthreads ran compiled' in md.splitlines()[0]
    main = md[:md.index('Fairness and memory')]
    fairness = md[md.index('Fairness and memory'):md.index('Targets (issue 12)')]
    targets = md[md.index('Targets (issue 12)'):]
    head, *body = _rows(main)
    assert head == ['case'] + backends + ['÷ gevent', '÷ gevent-patched', '÷ limit',
                                          'pure ÷ compiled']
    rows = {r[0]: dict(zip(head, r)) for r in body}
    assert rows['switch']['greenlet'] == '*0.250*'      # the limit, in italics
    assert rows['switch']['÷ limit'] == '4.00' and rows['switch']['pure ÷ compiled'] == '2.00'
    assert rows['lock_uncontended']['threading'] == '*0.100*'
    assert rows['lock_uncontended']['÷ limit'] == '2.00'
    assert rows['rlock_uncontended']['÷ limit'] == '1.00'
    assert rows['echo']['÷ limit'] == '–' and rows['echo']['pure ÷ compiled'] == '3.00'

    head, *body = _rows(targets)
    assert head == ['case', 'target', 'measured', 'measured (pure)', 'met']
    got = {(r[0], r[1]): r[2:] for r in body}
    assert got[('switch', '≤ 0.4 × gevent (Event handoff)')] == ['0.25×', '0.50×', 'yes']
    assert got[('lock_uncontended', '≤ 1.0 × threading (the OS `_thread.lock`)')] == [
        '2.00×', '4.00×', '**no**']
    assert got[('rlock_uncontended', '≤ 1.0 × threading (the C `_thread.RLock`)')] == [
        '1.00×', '5.00×', 'yes']
    assert got[('lock_contended', 'ownership changes on ≥ 90 % of releases with waiters')] == [
        '100%', '50%', 'yes']
    assert got[('echo', 'round trips/s ≥ 1.5 × gevent StreamServer (500 connections)')] == [
        '0.50×', '1.50×', 'yes']
    # No anchor, no row: here lock_contended, spawn_join and queue have no anchor figure.
    assert len(got) == 5
    # The limit has no fairness or memory figures: no column there.
    assert _rows(fairness)[0] == ['measure', 'greenthreads', 'greenthreads-pure']


def test_table_says_when_greenthreads_ran_pure_python():
    from benchmarks import compare
    med = {key: dict(m, compiled=False) if 'compiled' in m else m
           for key, m in _synthetic_med().items()}
    info = {'date': 'today', 'cpu': 'cpu', 'cores': 2, 'python': '3.x', 'versions': {}}
    assert 'greenthreads ran pure Python' in compare.table(['greenthreads'], med, info, 1).splitlines()[0]


def test_compare_stops_and_writes_nothing_when_a_case_fails(monkeypatch, tmp_path):
    from benchmarks import compare
    from benchmarks.runner import CaseFailed

    class FailingWorker:
        def __init__(self, backend):
            self.backend = backend

        def run(self, case, n, **kwargs):
            raise CaseFailed(f'{self.backend} {case} (n={n}): BenchmarkError: {case}: ...')

        def close(self):
            pass

        __enter__ = lambda self: self
        __exit__ = lambda self, *exc: None
    monkeypatch.setattr(compare, 'machine', lambda: {})
    monkeypatch.setattr(compare, 'available_backends', lambda: ['threading'])
    monkeypatch.setattr(compare, 'Worker', FailingWorker)
    out = tmp_path / 'results'
    with pytest.raises(SystemExit, match=r'benchmark failed, nothing written: threading spawn_join'):
        compare.main(['--rounds', '1', '--out', str(out)])
    assert not out.exists()


# ------------------------------------------------------------------ http (gunicorn)
WRK_REPORT = """Running 10s test @ http://127.0.0.1:8000/
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    11.02ms  512.00us  30.00ms   90.00%
    Req/Sec     4.50k   100.00     4.70k    70.00%
  Latency Distribution
     50%   10.80ms
     75%   11.10ms
     90%   11.50ms
     99%    1.20s
  89000 requests in 10.00s, 14.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:   8900.12
Transfer/sec:      1.40MB
"""


def test_wrk_report_is_read_with_units_and_every_error_counted():
    from benchmarks.http_gunicorn import parse_wrk
    got = parse_wrk(WRK_REPORT)
    assert got == {'requests': 89000, 'rps': 8900.12, 'p50_ms': 10.8, 'p99_ms': 1200.0,
                   'errors': 9, 'client': 'wrk'}


@pytest.mark.timeout(60)
def test_python_load_client_counts_requests_and_checks_bodies():
    # A tiny server answering every request on a keep-alive connection.
    import http.server
    import threading as real_threading
    from benchmarks import load

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def do_GET(self):
            body = b'right' if self.path == '/' else b'wrong'
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    real_threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f'http://127.0.0.1:{server.server_port}/'
        got = load.run(url, 4, 0.5, b'right')
        assert got['requests'] > 10 and got['errors'] == got['non_200'] == got['wrong_body'] == 0
        assert got['p50_ms'] <= got['p99_ms']
        assert load.run(url + 'other', 2, 0.3, b'right')['wrong_body'] > 0
    finally:
        server.shutdown()
        server.server_close()
