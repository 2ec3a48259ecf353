"""The hub: ready queue, timer heap, I/O readiness, thread-safe entry, errors."""

import os
import threading as std_threading
import time

import pytest

from greenthreads import _hub
from greenthreads._hub import get_hub, HubBlockingError, READ, WRITE
from greenthreads._park import Waiter, park, unpark, sleep, wait_fd


def test_one_hub_per_os_thread_created_lazily():
    hub = get_hub()
    assert get_hub() is hub
    seen = []
    t = std_threading.Thread(target=lambda: seen.append((_hub.peek_hub(), get_hub())))
    t.start()
    t.join()
    assert seen[0][0] is None              # nothing created until asked
    assert seen[0][1] is not hub
    assert seen[0][1].thread_ident == t.ident


def test_timers_fire_in_deadline_order():
    hub = get_hub()
    fired = []
    hub.call_later(0.03, fired.append, 'c')
    hub.call_later(0.01, fired.append, 'a')
    hub.call_later(0.02, fired.append, 'b')
    sleep(0.05)
    assert fired == ['a', 'b', 'c']


def test_cancelled_timer_does_not_fire():
    hub = get_hub()
    fired = []
    t = hub.call_later(0.01, fired.append, 'x')
    hub.cancel_timer(t)
    hub.cancel_timer(t)  # idempotent
    sleep(0.03)
    assert fired == []


def test_cancelled_timers_are_compacted():
    hub = get_hub()
    before = len(hub._timers)
    for _ in range(20):
        handles = [hub.call_later(1000, print) for _ in range(10_000)]
        for h in handles:
            hub.cancel_timer(h)
        sleep(0)  # one hub turn: compaction happens there
    # 200,000 armed and cancelled; the heap did not keep them.
    assert len(hub._timers) - before <= 10_000
    sleep(0)
    assert len(hub._timers) - before < 300


def test_call_threadsafe_wakes_a_parked_green_thread():
    w = Waiter('cross-thread')
    t = std_threading.Thread(target=lambda: (time.sleep(0.05), unpark(w, 'hello')))
    t.start()
    assert park(w, timeout=5) is True
    assert w.value == 'hello'
    t.join()


def test_wait_fd_readable_and_timeout():
    r, w = os.pipe()
    try:
        assert wait_fd(r, READ, timeout=0.02) is False
        hub = get_hub()
        hub.call_later(0.01, lambda _: os.write(w, b'x'))
        assert wait_fd(r, READ, timeout=5) is True
        assert os.read(r, 1) == b'x'
        assert wait_fd(w, WRITE, timeout=1) is True
        # Interest withdrawn: nobody waits, nothing is armed (fds stay registered).
        assert hub._io_waiters == 0
        assert hub._io[r][0] == 0 and hub._io[w][0] == 0
        hub.close_fd(r)
        hub.close_fd(w)
        assert r not in hub._io and w not in hub._io
    finally:
        os.close(r)
        os.close(w)


def test_blocking_inside_the_hub_is_a_clear_error():
    hub = get_hub()
    errors = []

    def blocking_callback(_):
        try:
            park(Waiter('from a timer'), 1)
        except HubBlockingError as exc:
            errors.append(exc)
    hub.call_later(0, blocking_callback)
    sleep(0.01)
    assert len(errors) == 1
    assert 'hub' in str(errors[0])


def test_error_in_callback_is_reported_and_hub_runs_on(capfd):
    hub = get_hub()
    hub.call_later(0, lambda _: 1 / 0)
    fired = []
    hub.call_later(0.01, fired.append, 'after')
    sleep(0.03)
    assert fired == ['after']
    assert 'ZeroDivisionError' in capfd.readouterr().err


def test_ready_queue_is_fifo():
    hub = get_hub()
    order = []
    for i in range(5):
        hub.call_soon(order.append, i)
    sleep(0)
    assert order == [0, 1, 2, 3, 4]


@pytest.mark.parametrize('n', [3])
def test_yield_lets_others_run_round_robin(n):
    import greenthreads
    log = []

    def worker(i):
        for step in range(3):
            log.append((i, step))
            sleep(0)
    threads = [greenthreads.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log == [(i, s) for s in range(3) for i in range(n)]
