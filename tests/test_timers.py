"""The timer heap: deadline order, O(1) cancel, compaction, and the hub running it."""

import time

from greenthreads._hub import get_hub
from greenthreads._park import sleep
from greenthreads._timers import TimerHeap, Timer


def test_due_timers_fire_in_deadline_order_then_arming_order():
    timers = TimerHeap()
    fired = []
    timers.arm(0.03, fired.append, 'c')
    timers.arm(0.01, fired.append, 'a')
    timers.arm(0.02, fired.append, 'b')
    timers.arm(0.02, fired.append, 'b2')     # same delay, armed later: fires later
    assert len(timers) == 4
    timers.run_due(time.monotonic())
    assert fired == []
    timers.run_due(time.monotonic() + 1)
    assert fired == ['a', 'b', 'b2', 'c']
    assert len(timers) == 0 and not timers.heap and timers.next_deadline() is None


def test_only_what_is_due_fires_and_next_deadline_says_when():
    timers = TimerHeap()
    fired = []
    soon = timers.arm(0.0, fired.append, 'now')
    later = timers.arm(100, fired.append, 'later')
    assert timers.next_deadline() == soon.deadline
    timers.run_due(time.monotonic())
    assert fired == ['now'] and soon.callback is None
    assert timers.next_deadline() == later.deadline
    assert len(timers) == 1


def test_a_cancelled_timer_never_fires_and_cancel_is_idempotent():
    timers = TimerHeap()
    fired = []
    timer = timers.arm(0.0, fired.append, 'x')
    assert isinstance(timer, Timer)
    timers.cancel(timer)
    timers.cancel(timer)
    assert len(timers) == 0 and len(timers.heap) == 1     # dead, left in place (O(1))
    timers.run_due(time.monotonic() + 1)
    assert fired == [] and not timers.heap


def test_cancelling_a_fired_timer_changes_nothing():
    timers = TimerHeap()
    fired = []
    timer = timers.arm(0.0, fired.append, 'x')
    timers.run_due(time.monotonic() + 1)
    timers.cancel(timer)
    assert fired == ['x'] and len(timers) == 0


def test_cancelled_timers_are_compacted_without_a_turn_of_the_hub():
    timers = TimerHeap()
    keep = timers.arm(1000, print)
    for _ in range(20):
        for t in [timers.arm(1000, print) for _ in range(10_000)]:
            timers.cancel(t)
    # 200,000 armed and cancelled: the heap did not keep them.
    assert len(timers.heap) < 1000 and len(timers) == 1
    assert timers.find(None) is keep       # (armed with no argument)


def test_a_callback_may_cancel_another_due_timer():
    timers = TimerHeap()
    fired = []
    victims = []

    def cancel_the_rest(_):
        fired.append('first')
        for v in victims:
            timers.cancel(v)
    timers.arm(0.0, cancel_the_rest)
    victims.extend(timers.arm(0.0, fired.append, i) for i in range(600))   # enough to compact
    timers.run_due(time.monotonic() + 1)
    assert fired == ['first'] and not timers.heap


def test_find_returns_the_live_timer_armed_with_an_argument():
    timers = TimerHeap()
    arg = object()
    timer = timers.arm(10, print, arg)
    assert timers.find(arg) is timer
    timers.cancel(timer)
    assert timers.find(arg) is None


def test_clear_forgets_every_timer():
    timers = TimerHeap()
    fired = []
    timers.arm(0.0, fired.append, 1)
    timers.clear()
    timers.run_due(time.monotonic() + 1)
    assert fired == [] and len(timers) == 0


def test_the_hub_runs_its_timers_while_green_threads_sleep():
    hub = get_hub()
    fired = []
    hub.timers.arm(0.03, fired.append, 'c')
    hub.timers.arm(0.01, fired.append, 'a')
    cancelled = hub.timers.arm(0.02, fired.append, 'x')
    hub.timers.cancel(cancelled)
    sleep(0.05)
    assert fired == ['a', 'c']
