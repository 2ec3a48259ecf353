"""The hub: one per OS thread, its loop over the ready queue, timers, I/O and calls from other OS threads."""

import os
import threading as std_threading
import time

import pytest

from greenthreads import _hub
from greenthreads._hub import get_hub, HubBlockingError
from greenthreads._park import Waiter, park, unpark, sleep
from greenthreads._poller import READ


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


def test_an_os_threads_hub_is_closed_when_the_thread_ends():
    hubs = []

    def work():
        hubs.append(get_hub())
        sleep(0.001)
    t = std_threading.Thread(target=work)
    t.start()
    t.join()
    hub = hubs[0]
    assert hub.wakeup.closed and hub.poller.closed     # (soak tests count the fds)
    hub.call_threadsafe(print)     # a late call from elsewhere is dropped, not written anywhere
    assert not get_hub().wakeup.closed   # the main OS thread's hub lives on


def test_call_threadsafe_wakes_a_parked_green_thread():
    w = Waiter('cross-thread')
    t = std_threading.Thread(target=lambda: (time.sleep(0.05), unpark(w, 'hello')))
    t.start()
    assert park(w, timeout=5) is True
    assert w.value == 'hello'
    t.join()


def test_close_fd_wakes_its_waiters_to_retry():
    r, w = os.pipe()
    hub = get_hub()
    results = []
    try:
        waiter = Waiter('pipe')
        hub.poller.add(r, READ, results.append, 'woken')
        hub.timers.arm(0.01, lambda _: hub.close_fd(r))
        assert park(waiter, timeout=0.05) is False
        assert results == ['woken'] and hub.poller.waiting == 0
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
    hub.timers.arm(0, blocking_callback)
    sleep(0.01)
    assert len(errors) == 1
    assert 'hub' in str(errors[0])


def test_error_in_callback_is_reported_and_hub_runs_on(capfd):
    hub = get_hub()
    hub.timers.arm(0, lambda _: 1 / 0)
    fired = []
    hub.timers.arm(0.01, fired.append, 'after')
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


def test_a_callback_raising_greenlet_exit_does_not_end_the_hub(capsys):
    import greenlet

    def stop(_):
        raise greenlet.GreenletExit
    get_hub().call_soon(stop)
    sleep(0.01)                  # the hub ran the callback, reported it, and runs on
    woken = []
    get_hub().timers.arm(0.01, woken.append, 1)
    sleep(0.05)
    assert woken == [1]
    assert 'GreenletExit' in capsys.readouterr().err
