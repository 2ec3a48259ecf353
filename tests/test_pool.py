"""to_thread and the real-thread pool; cooperative name resolution."""

import threading as std_threading
import time

import pytest

import greenthreads
from greenthreads import pool
from greenthreads.green import socket


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
