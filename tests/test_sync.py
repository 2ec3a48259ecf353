"""_sync: Condition, Semaphore, BoundedSemaphore, Event and Barrier.

Switch-free fast paths, FIFO handoff of semaphore units, CPython's return
values, errors and reprs, any lock-like object under a Condition, and use
from real OS threads.  (CPython's own tests of these run in
test_cpython_suites.py; the locks they are built on are in test_locks.py.)
"""

import inspect
import threading as std_threading

import pytest

import greenthreads
from greenthreads import Lock, Condition, Semaphore, Event, Barrier
from conftest import spawn, error_of as _err, SwitchCounter, in_os_thread, os_thread_release_wakes_green_waiter


# ------------------------------------------------------------------ surface
@pytest.mark.parametrize('name', ['Condition', 'Semaphore', 'BoundedSemaphore', 'Event', 'Barrier'])
def test_constructor_signatures_match(name):
    ours = inspect.signature(getattr(greenthreads, name))
    theirs = inspect.signature(getattr(std_threading, name))
    assert ours == theirs


# ------------------------------------------------------------ fast paths
def test_uncontended_and_non_blocking_paths_never_switch():
    sem, ev = Semaphore(2), Event()
    cond = Condition(Lock())
    held = Lock()
    held.acquire()
    spawn(held.acquire)          # a runnable thread that a switch would run
    with SwitchCounter() as sc:
        for _ in range(100):
            with sem:
                pass
            ev.set()
            ev.clear()
            assert ev.wait(0) is False
            with cond:
                cond.notify()
                cond.notify_all()
                assert cond.wait(0) is False
    assert sc.count == 0
    held.release()


# -------------------------------------------------------------- fairness
def test_semaphore_hands_units_in_arrival_order():
    sem = Semaphore(0)
    got = []
    threads = [spawn(lambda i=i: (sem.acquire(), got.append(i))) for i in range(5)]
    greenthreads.sleep(0)
    sem.release(2)
    assert sem.acquire(False) is False      # the units went to the waiters
    sem.release(3)
    for t in threads:
        t.join()
    assert got == list(range(5))


# ------------------------------------------------------------- CPython's answers
def test_return_values_match_cpython(mod):
    sem = mod.BoundedSemaphore(1)
    assert _err(sem.release) == (ValueError, 'Semaphore released too many times')
    assert _err(lambda: sem.release(0)) == (ValueError, 'n must be one or more')
    assert _err(lambda: mod.Semaphore(-1)) == (ValueError, 'semaphore initial value must be >= 0')
    assert _err(lambda: sem.acquire(False, 1)) == (ValueError, "can't specify timeout for non-blocking acquire")
    ev = mod.Event()
    assert ev.wait(-1) is False and ev.wait(0) is False
    ev.set()
    assert ev.wait(-1) is True and ev.wait() is True
    cond = mod.Condition()
    assert _err(cond.wait) == (RuntimeError, 'cannot wait on un-acquired lock')
    assert _err(cond.notify) == (RuntimeError, 'cannot notify on un-acquired lock')


def test_reprs_follow_cpython_shapes(mod):
    import re
    assert re.fullmatch(r'<Condition\(<unlocked \S+RLock object owner=0 count=0 at 0x[0-9a-f]+>, 0\)>',
                        repr(mod.Condition()))


# -------------------------------------------------------------- Condition
def test_condition_with_any_lock_like_object():
    class Wrapped:
        """A lock-like object without _is_owned/_release_save: the fallbacks apply."""
        def __init__(self):
            self.inner = Lock()
            self.acquire = self.inner.acquire
            self.release = self.inner.release

        def __enter__(self):
            return self.inner.__enter__()

        def __exit__(self, *a):
            return self.inner.__exit__(*a)

    cond = Condition(Wrapped())
    ready = []

    def consumer():
        with cond:
            assert cond.wait_for(lambda: ready, timeout=5)
    t = spawn(consumer)
    greenthreads.sleep(0)
    with cond:
        ready.append(1)
        cond.notify()
    t.join()


# ---------------------------------------------------------------- Barrier
def test_barrier_action_abort_reset():
    results = []
    b = Barrier(3, action=lambda: results.append('action'))
    threads = [spawn(lambda: results.append(b.wait())) for _ in range(3)]
    for t in threads:
        t.join()
    assert sorted(results[1:]) == [0, 1, 2] and results[0] == 'action'
    b2 = Barrier(2, timeout=0.01)
    with pytest.raises(greenthreads.BrokenBarrierError):
        b2.wait()
    assert b2.broken
    b2.reset()
    assert not b2.broken and b2.n_waiting == 0 and b2.parties == 2


# ------------------------------------------------------------ real OS threads
def test_event_set_by_a_real_os_thread_wakes_a_green_waiter():
    ev = Event()
    other = spawn(greenthreads.sleep, 0.01)      # the hub keeps scheduling meanwhile
    os_thread = in_os_thread(ev.set)
    assert ev.wait(timeout=10) is True
    os_thread.join()
    other.join()


def test_semaphore_release_by_a_real_os_thread_wakes_a_green_waiter():
    assert os_thread_release_wakes_green_waiter(Semaphore(0)) == [True]


def test_a_real_os_thread_blocking_on_a_green_event_blocks_only_itself():
    ev = Event()
    progress = []
    os_result = []
    os_thread = std_threading.Thread(target=lambda: os_result.append(ev.wait(10)))
    os_thread.start()
    for i in range(5):           # green threads keep running meanwhile
        spawn(progress.append, i).join()
        greenthreads.sleep(0.01)
    assert progress == list(range(5)) and os_result == []
    ev.set()
    os_thread.join(10)
    assert os_result == [True]


def test_real_os_thread_waits_on_condition_notified_by_green_thread():
    cond = Condition()
    items = []
    got = []

    def os_consumer():
        with cond:
            assert cond.wait_for(lambda: items, timeout=10)
            got.append(items.pop())
    t = std_threading.Thread(target=os_consumer)
    t.start()
    greenthreads.sleep(0.05)
    with cond:
        items.append('x')
        cond.notify()
    t.join(10)
    assert got == ['x']
