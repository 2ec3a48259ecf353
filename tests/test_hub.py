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


def test_an_os_threads_hub_is_closed_when_the_thread_ends():
    hubs = []

    def work():
        hubs.append(get_hub())
        sleep(0.001)
    t = std_threading.Thread(target=work)
    t.start()
    t.join()
    hub = hubs[0]
    assert hub._closed and hub._poller.closed     # (soak tests count the fds)
    hub.call_threadsafe(print)     # a late call from elsewhere is dropped, not written anywhere
    assert not get_hub()._closed   # the main OS thread's hub lives on


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
    # 200,000 armed and cancelled, with no hub turn between: the heap did not keep them.
    assert len(hub._timers) - before < 1000


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
        # Interest withdrawn: nobody waits (the fds stay registered until closed).
        assert hub._io_waiters == 0
        assert hub._io[r][:2] == [[], []] and hub._io[w][:2] == [[], []]
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


# -- I/O readiness: edge-triggered registration, level-checked waits
class _CountingPoller:
    """Wraps the hub's epoll object, counting the calls that cost a syscall."""

    def __init__(self, poller):
        self.poller = poller
        self.calls = []

    def __getattr__(self, name):
        method = getattr(self.poller, name)

        def counted(*args):
            self.calls.append(name)
            return method(*args)
        return counted


@pytest.fixture
def counting_poller():
    hub = get_hub()
    real = hub._poller
    hub._poller = _CountingPoller(real)
    yield hub._poller
    hub._poller = real


def test_wait_fd_sees_readiness_whose_edge_went_by():
    r, w = os.pipe()
    try:
        os.write(w, b'ab')
        assert wait_fd(r, READ, timeout=5) is True
        assert os.read(r, 1) == b'a'
        sleep(0.01)             # the hub polls: the fd reports no new change
        # 'b' is still there: a plain wait looks at the fd as it is now.
        assert wait_fd(r, READ, timeout=5) is True
        assert os.read(r, 1) == b'b'
        assert wait_fd(r, READ, timeout=0.01) is False
    finally:
        get_hub().close_fd(r)
        os.close(r)
        os.close(w)


def test_owner_waits_after_eagain_cost_no_syscall(counting_poller):
    hub = get_hub()
    r, w = os.pipe()
    os.set_blocking(r, False)
    owner = object()
    try:
        for i in range(3):
            with pytest.raises(BlockingIOError):
                os.read(r, 1)
            hub.call_later(0.005, lambda _: os.write(w, b'x'))
            assert wait_fd(r, READ, 5, owner) is True
            assert os.read(r, 1) == b'x'
        # Registered once, by the first wait; never modified after.
        assert counting_poller.calls == ['register']
        # Timing out withdraws the interest without a syscall either.
        assert wait_fd(r, READ, 0.005, owner) is False
        assert counting_poller.calls == ['register']
        assert hub._io_waiters == 0
        # A wait by anybody else re-checks the fd (one syscall).
        os.write(w, b'y')
        assert wait_fd(r, READ, 5) is True
        assert counting_poller.calls == ['register', 'modify']
    finally:
        hub.close_fd(r)
        os.close(r)
        os.close(w)


def test_fd_closed_behind_the_hubs_back_and_reused():
    hub = get_hub()
    r, w = os.pipe()
    os.set_blocking(r, False)
    owner = object()
    try:
        hub.call_later(0.005, lambda _: os.write(w, b'x'))
        assert wait_fd(r, READ, 5, owner) is True
        # Another file takes the number: the hub still has an entry for it.
        r2, w2 = os.pipe()
        os.dup2(r2, r)
        os.close(r2)
        assert r in hub._io
        hub.call_later(0.005, lambda _: os.write(w2, b'y'))
        assert wait_fd(r, READ, 5, object()) is True     # a new owner: armed afresh
        assert os.read(r, 1) == b'y'
        os.close(w2)
        os.dup2(w, r)                     # and once more, for a plain wait
        assert wait_fd(r, WRITE, 5) is True
    finally:
        hub.close_fd(r)
        os.close(r)
        os.close(w)
