"""to_thread and the real-thread pool; cooperative name resolution."""

import threading as std_threading
import time

import pytest

import greenthreads
from greenthreads import pool
from greenthreads.green import socket
from conftest import run_script


def test_to_thread_runs_in_a_real_thread_and_returns_the_result():
    main_native = std_threading.get_native_id()
    native = greenthreads.to_thread(std_threading.get_native_id)
    assert native != main_native
    assert greenthreads.to_thread(lambda a, b=0: a + b, 1, b=2) == 3


def test_to_thread_raises_the_exception_in_the_caller():
    with pytest.raises(ValueError, match='invalid literal'):
        greenthreads.to_thread(int, 'x')


def test_calls_run_in_parallel_up_to_the_bound_and_others_keep_running():
    out = []
    ticks = []

    def caller(i):
        out.append(greenthreads.to_thread(lambda: (time.sleep(0.1), i)[1]))
    threads = [greenthreads.Thread(target=caller, args=(i,)) for i in range(20)]
    ticker = greenthreads.Thread(target=lambda: [ticks.append(greenthreads.sleep(0.01)) for _ in range(10)])
    t0 = time.monotonic()
    for t in threads + [ticker]:
        t.start()
    for t in threads + [ticker]:
        t.join()
    elapsed = time.monotonic() - t0
    assert sorted(out) == list(range(20))
    assert len(ticks) == 10
    # 20 calls of 0.1 s on 10 workers: two batches, not twenty (nor one).
    assert 0.15 < elapsed < 2, elapsed
    assert pool.default_pool._workers <= pool.default_pool.max_workers


def test_pool_bound_is_validated():
    with pytest.raises(ValueError):
        pool.ThreadPool(0)


def test_numeric_addresses_resolve_without_the_pool(monkeypatch):
    def fail(*a, **k):
        raise AssertionError('numeric lookups must not use the pool')
    monkeypatch.setattr(pool, 'to_thread', fail)
    assert socket.getaddrinfo('127.0.0.1', 80)[0][4] == ('127.0.0.1', 80)
    assert socket.getaddrinfo('::1', 80)[0][4][:2] == ('::1', 80)


def test_name_lookups_go_through_the_pool(monkeypatch):
    calls = []
    real = pool.to_thread
    monkeypatch.setattr(pool, 'to_thread', lambda fn, *a: calls.append(fn.__name__) or real(fn, *a))
    assert socket.getaddrinfo('localhost', 80)
    assert socket.gethostbyname('localhost') == '127.0.0.1'
    assert calls == ['getaddrinfo', 'gethostbyname']


def test_a_job_that_offloads_again_runs_inline_and_a_full_pool_cannot_deadlock():
    # getfqdn is the stdlib's Python function calling gethostbyaddr, which is
    # offloaded too: more concurrent callers than workers once hung the pool.
    def job(i):
        return greenthreads.to_thread(lambda: (time.sleep(0.01), std_threading.get_native_id(), i))
    results = []
    threads = [greenthreads.Thread(target=lambda i=i: results.append(
        greenthreads.to_thread(lambda: (std_threading.get_native_id(), job(i))))) for i in range(3 * 10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), 'pool deadlocked'
    assert sorted(r[1][2] for r in results) == list(range(30))
    assert all(outer == inner for outer, (_, inner, _) in results)   # the inner job ran inline


def test_getfqdn_from_more_threads_than_workers_under_the_patch():
    # The patched stdlib getfqdn (offloaded) calls the patched gethostbyaddr.
    proc = run_script('''
        import greenthreads.monkey; greenthreads.monkey.patch_all()
        import socket, threading
        names = []
        threads = [threading.Thread(target=lambda: names.append(socket.getfqdn())) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        print(len(names), any(t.is_alive() for t in threads), len(set(names)))
    ''', timeout=60)
    assert proc.stdout.split() == ['30', 'False', '1'], proc.stderr[-2000:]


_WORKERS_WAIT_ON_GREEN = '''
    import greenthreads.monkey; greenthreads.monkey.patch_all()
    import sys, threading, time
    from greenthreads.pool import to_thread
    gate = threading.Event()

    def job(i):
        gate.wait()              # a green wait, in a pool worker
        return i

    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(to_thread(job, i)))
               for i in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    if sys.argv[1] == 'stuck':
        to_thread(gate.set)      # an 11th job: every worker is taken, waiting on the gate
    else:
        threading.Timer(0.6, gate.set).start()
    for t in threads:
        t.join()
    print(sorted(results) == list(range(10)))
'''


@pytest.mark.timeout(60)
def test_workers_waiting_on_green_threads_that_wait_on_the_pool_are_a_reported_deadlock():
    proc = run_script(_WORKERS_WAIT_ON_GREEN, 'stuck', timeout=30)
    assert proc.returncode == 1, proc
    # (Then, at exit, the threads that cannot finish are reported again.)
    report = proc.stderr[proc.stderr.index('greenthreads.DeadlockError'):].split('\ngreenthreads: ')[0]
    assert 'MainThread' in report and 'waits on to_thread(Event.set)' in report
    assert report.count('waits on to_thread(job)') == 10
    # Each worker, with where it waits and its stack.
    assert report.count('(a thread pool worker) waits on <greenthreads.Event') == 10
    assert report.count('File "<string>", line 8, in job') == 10


@pytest.mark.timeout(60)
def test_workers_waiting_on_green_threads_are_no_deadlock_while_a_timer_can_free_them():
    proc = run_script(_WORKERS_WAIT_ON_GREEN, 'timer', timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, 'True\n', '')
