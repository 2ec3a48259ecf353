"""park/unpark and wait queues: the one blocking primitive."""

import greenlet
import pytest

from greenthreads._hub import get_hub
from greenthreads._park import Waiter, WaitQueue, park, unpark, sleep, yield_now, WOKEN, TIMED_OUT
from conftest import spawn


def test_unpark_wakes_with_value():
    w = Waiter('test')
    get_hub().timers.arm(0.01, lambda _: unpark(w, 42))
    assert park(w) is True
    assert w.state == WOKEN and w.value == 42


def test_timeout_reports_false_and_later_unpark_is_a_noop():
    w = Waiter('test')
    assert park(w, timeout=0.01) is False
    assert w.state == TIMED_OUT
    assert unpark(w) is False
    assert w.state == TIMED_OUT


def test_unpark_before_timeout_cancels_the_timer():
    hub = get_hub()
    w = Waiter('test')
    hub.call_soon(lambda _: unpark(w))
    before = len(hub.timers)
    assert park(w, timeout=100) is True
    assert len(hub.timers) == before      # the 100 s timer is dead, not pending


def test_second_unpark_is_a_noop():
    w = Waiter('test')

    def wake_twice(_):
        assert unpark(w, 'first') is True
        assert unpark(w, 'second') is False
    get_hub().call_soon(wake_twice)
    park(w)
    assert w.value == 'first'


def test_exception_thrown_into_parked_thread_cancels_its_waiter():
    q = WaitQueue()
    result = []

    def waiter():
        try:
            q.wait()
        except ZeroDivisionError:
            result.append('interrupted')
    t = spawn(waiter)
    sleep(0)
    assert len(q) == 1
    get_hub().call_soon(lambda _: t._greenlet.throw(ZeroDivisionError))
    t.join()
    assert result == ['interrupted']
    assert len(q) == 0 and not q
    assert q.wake_one() is None          # the cancelled waiter is skipped


def test_stray_switch_is_not_a_wakeup():
    q = WaitQueue()
    out = []
    t = spawn(lambda: out.append(q.wait()))
    sleep(0)
    get_hub().call_soon(t._greenlet.switch)   # a stray switch into the parked thread
    sleep(0)
    sleep(0)
    assert out == [] and t.is_alive()
    q.wake_one('real')
    t.join()
    assert out == ['real']


def test_wait_queue_is_fifo_and_skips_timed_out_waiters():
    q = WaitQueue()
    order = []

    def waiter(name, timeout):
        if q.wait(timeout):
            order.append(name)
    threads = [spawn(waiter, 'a', None), spawn(waiter, 'late', 0.01),
               spawn(waiter, 'b', None), spawn(waiter, 'c', None)]
    sleep(0.05)                      # 'late' times out
    assert len(q) == 3
    assert q.wake_one() is not None
    assert q.wake_all() == 2
    for t in threads:
        t.join()
    assert order == ['a', 'b', 'c']


def test_many_timeouts_do_not_grow_the_queue():
    q = WaitQueue()
    threads = [spawn(q.wait, None, 0.001) for _ in range(2000)]
    for t in threads:
        t.join()
    keeper = spawn(q.wait)   # one more arrival triggers compaction
    sleep(0)
    assert len(q.entries) < 100
    q.wake_all()
    keeper.join()


def test_yield_now_from_the_main_thread_runs_others():
    out = []
    spawn(out.append, 1)
    yield_now()
    assert out == [1]


def test_park_from_a_raw_greenlet_works():
    # A greenlet not started by us can still block cooperatively.
    out = []
    g = greenlet.greenlet(lambda: (sleep(0.01), out.append('done')))
    g.switch()
    sleep(0.05)
    assert out == ['done']


@pytest.mark.parametrize('timeout', [0, 0.0])
def test_zero_timeout_still_parks_once(timeout):
    w = Waiter('test')
    assert park(w, timeout) is False
