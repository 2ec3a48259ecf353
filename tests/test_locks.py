"""_locks: Lock and RLock: switch-free fast paths, FIFO handoff, RLock re-entry, real OS threads.

(CPython's own lock tests run in test_cpython_suites.py; these cover what they
cannot see: switches, fairness, atomicity and cross-OS-thread use.  Condition,
Semaphore, Event and Barrier are in test_sync.py.)
"""

import gc
import sys
import threading as std_threading
import time

import pytest

import greenthreads
from greenthreads import Lock, RLock
from conftest import spawn, error_of as _err, SwitchCounter, os_thread_release_wakes_green_waiter


# ------------------------------------------------------------ fast paths
def test_uncontended_and_non_blocking_paths_never_switch():
    lock, rlock = Lock(), RLock()
    held = Lock()
    held.acquire()
    spawn(held.acquire)          # a runnable thread that a switch would run
    with SwitchCounter() as sc:
        for _ in range(100):
            with lock:
                pass
            with rlock:
                with rlock:
                    pass
            assert held.acquire(False) is False        # failed try: no yield
            assert held.acquire(timeout=0) is False           # zero timeout: no yield either
    assert sc.count == 0
    held.release()


def test_release_with_waiters_does_not_switch():
    lock = Lock()
    lock.acquire()
    t = spawn(lock.acquire)
    greenthreads.sleep(0)
    with SwitchCounter() as sc:
        lock.release()       # hands over; the waiter runs at our next block
    assert sc.count == 0
    t.join()
    assert lock.locked()     # owned by the (finished) waiter


# -------------------------------------------------------------- fairness
@pytest.mark.parametrize('kind', [Lock, RLock])
def test_lock_is_fifo_and_releasers_do_not_barge(kind):
    lock = kind()
    order = []

    def worker(i):
        for _ in range(50):
            with lock:
                order.append(i)
                greenthreads.sleep(0)
    threads = [spawn(worker, i) for i in range(4)]
    for t in threads:
        t.join()
    # Every release had waiters, so ownership must rotate strictly.
    changes = sum(a != b for a, b in zip(order, order[1:]))
    assert changes == len(order) - 1
    assert order == [0, 1, 2, 3] * 50


def test_waiters_acquire_in_arrival_order():
    lock = Lock()
    lock.acquire()
    got = []
    threads = [spawn(lambda i=i: (lock.acquire(), got.append(i), lock.release())) for i in range(10)]
    greenthreads.sleep(0)
    lock.release()
    for t in threads:
        t.join()
    assert got == list(range(10))


def test_timed_out_waiter_does_not_receive_the_lock():
    lock = Lock()
    lock.acquire()
    results = []
    t1 = spawn(lambda: results.append(('t1', lock.acquire(timeout=0.01))))
    t2 = spawn(lambda: results.append(('t2', lock.acquire(timeout=5))))
    greenthreads.sleep(0.05)     # t1 gives up
    lock.release()
    t1.join()
    t2.join()
    assert results == [('t1', False), ('t2', True)]
    lock.release()


def test_exception_while_woken_gives_the_lock_back(capsys):
    lock = Lock()
    lock.acquire()
    t = spawn(lock.acquire)
    greenthreads.sleep(0)
    hub = greenthreads._hub.get_hub()
    # The exception reaches t after the lock was handed to it, before it ran.
    hub.call_soon(lambda _: t._greenlet.throw(KeyError('interrupted')))
    lock.release()
    t.join()
    assert not lock.locked()                 # t passed it back on the way out
    assert 'KeyError' in capsys.readouterr().err


# ------------------------------------------------------------ RLock atomicity
# Compiled, the RLock's code has no lines for a tracer to re-enter at (and no
# Python code runs between its C steps); the algorithm is the same source, and
# CI's pure-Python run checks it here.
_pure_only = pytest.mark.skipif(greenthreads.compiled, reason='compiled code has no Python lines to re-enter at')


def _reentry_at_every_line(rlock, action):
    """Run ``action`` with a tracer that, at every line of the RLock's code,
    takes and releases the same RLock from the same green thread: what a GC
    callback or a signal handler may do between any two bytecodes."""
    code_names = {'acquire', 'release', '__exit__', '_release_all', '_wait', '_rescue', '_handoff',
                  '_release_save', '_acquire_restore'}
    lock_file = greenthreads._locks.__file__
    hits = [0]
    inside = [False]

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != lock_file or frame.f_code.co_name not in code_names:
            return None

        def local_trace(frame, event, arg):
            if event == 'line' and not inside[0]:
                inside[0] = True
                try:
                    with rlock:          # the re-entrant "callback"
                        hits[0] += 1
                finally:
                    inside[0] = False
            return local_trace
        return local_trace

    sys.settrace(tracer)
    try:
        action()
    finally:
        sys.settrace(None)
    return hits[0]


@_pure_only
def test_rlock_survives_reentry_at_every_line_uncontended():
    rlock = RLock()

    def action():
        for _ in range(3):
            rlock.acquire()
            rlock.acquire()
            rlock.release()
            rlock.release()
    hits = _reentry_at_every_line(rlock, action)
    assert hits > 20
    assert not rlock.locked() and rlock._recursion_count() == 0
    assert rlock.acquire(False)
    rlock.release()


@_pure_only
def test_rlock_survives_reentry_during_handoff():
    # The critical window: the last release handing the lock to a waiter.
    rlock = RLock()
    done = []
    rlock.acquire()
    waiter = spawn(lambda: (rlock.acquire(), done.append('waiter'), rlock.release()))
    greenthreads.sleep(0)
    hits = _reentry_at_every_line(rlock, rlock.release)
    assert hits > 0
    waiter.join()
    assert done == ['waiter']
    assert not rlock.locked()


@_pure_only
@pytest.mark.timeout(30)
@pytest.mark.parametrize('kind', ['Lock.release', 'Lock.__exit__', 'RLock.release', 'RLock.__exit__'])
def test_an_os_thread_that_queues_while_the_release_reads_is_woken(kind):
    # Pure Python may switch OS threads between any two lines: here between
    # the releaser's first look at the lock's queue (none yet) and the lock
    # becoming free, another OS thread makes the queue, joins it and fails
    # its retry.  The releaser must still see it, or it sleeps on a free lock.
    cls_name, method = kind.split('.')
    lock = getattr(greenthreads, cls_name)()
    lock.acquire()
    lock_file = greenthreads._locks.__file__
    got = []
    started = []

    def other():
        t0 = time.monotonic()
        got.append(lock.acquire(timeout=5))
        got.append(time.monotonic() - t0)
        lock.release()

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != lock_file or frame.f_code.co_name not in (
                'release', '__exit__', '_release_all'):
            return None

        def local_trace(frame, event, arg):
            if (event == 'line' and not started and 'q' in frame.f_locals
                    and frame.f_locals['q'] is None):
                started.append(std_threading.Thread(target=other))
                started[0].start()
                deadline = time.monotonic() + 5
                while not (lock._waiters is not None and lock._waiters.entries):
                    assert time.monotonic() < deadline, 'the other OS thread never queued'
                    time.sleep(0.001)
            return local_trace
        return local_trace

    sys.settrace(tracer)
    try:
        if method == 'release':
            lock.release()
        else:
            lock.__exit__(None, None, None)
    finally:
        sys.settrace(None)
    assert started, 'the release never read an empty queue'
    started[0].join()
    assert got[0] is True and got[1] < 2, got


def test_rlock_gc_callback_takes_the_lock():
    rlock = RLock()
    log = []

    class Finalized:
        def __del__(self):
            with rlock:
                log.append('finalizer')

    def churn():
        for _ in range(200):
            with rlock:
                a = Finalized()
                a.cycle = a          # freed only by the cyclic GC, at any allocation
                del a
    old = gc.get_threshold()
    gc.set_threshold(5)
    try:
        threads = [spawn(churn) for _ in range(3)]
        for t in threads:
            t.join()
        gc.collect()
    finally:
        gc.set_threshold(*old)
    assert len(log) == 600
    assert not rlock.locked()


def test_rlock_ownership_and_messages():
    rlock = RLock()
    assert rlock.acquire() is True and rlock.acquire() is True
    assert rlock._recursion_count() == 2
    out = []
    t = spawn(lambda: out.append((rlock.acquire(False), _err(rlock.release))))
    t.join()
    assert out == [(False, (RuntimeError, 'cannot release un-acquired lock'))]
    rlock.release()
    rlock.release()
    assert _err(rlock.release) == (RuntimeError, 'cannot release un-acquired lock')


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize('factory', [Lock, RLock, std_threading.Lock, std_threading.RLock])
@pytest.mark.parametrize('args', [(False, 1), (True, -2), (True, 1e100), (True, None),
                                  (True, float('nan')), (True, 'x')])
def test_acquire_argument_errors_match_cpython(factory, args):
    real = std_threading.Lock()
    assert _err(lambda: factory().acquire(*args)) == _err(lambda: real.acquire(*args))


def test_return_values_match_cpython(mod):
    lock, rlock = mod.Lock(), mod.RLock()
    with lock as v:
        assert v is True
    assert rlock.acquire() is True and rlock.acquire() is True
    assert rlock.release() is None and rlock.release() is None
    assert lock.acquire() is True and lock.release() is None
    assert _err(lock.release) == (RuntimeError, 'release unlocked lock')


def test_reprs_follow_cpython_shapes(mod):
    import re
    assert re.fullmatch(r'<unlocked \S+ object at 0x[0-9a-f]+>', repr(mod.Lock()))
    r = mod.RLock()
    r.acquire()
    assert re.fullmatch(r'<locked \S+RLock object owner=\d+ count=1 at 0x[0-9a-f]+>', repr(r))
    assert f'owner={mod.get_ident()}' in repr(r)
    r.release()


# ------------------------------------------------------------ real OS threads
def test_release_by_a_real_os_thread_wakes_a_green_waiter():
    prim = Lock()
    prim.acquire()
    assert os_thread_release_wakes_green_waiter(prim) == [True]


def test_real_and_green_threads_share_a_lock_correctly():
    lock = Lock()
    counter = [0]
    n = 2000

    def bump():
        for _ in range(n):
            with lock:
                v = counter[0]
                if v % 97 == 0:
                    time.sleep(0)            # let the GIL move mid-critical-section
                counter[0] = v + 1

    def green_bump():
        for _ in range(n):
            with lock:
                v = counter[0]
                greenthreads.sleep(0) if v % 89 == 0 else None
                counter[0] = v + 1

    os_threads = [std_threading.Thread(target=bump) for _ in range(2)]
    for t in os_threads:
        t.start()
    green = [spawn(green_bump) for _ in range(3)]
    for t in green:
        t.join()
    for t in os_threads:
        t.join()
    assert counter[0] == 5 * n


@pytest.mark.parametrize('make', [Lock, RLock], ids=['Lock', 'RLock'])
def test_locks_cannot_be_pickled_or_copied_as_the_c_locks_cannot(make):
    import copy
    import pickle
    import _thread
    native = _thread.allocate_lock() if make is Lock else _thread.RLock()
    for action in (pickle.dumps, copy.copy):
        with pytest.raises(TypeError) as theirs:
            action(native)
        with pytest.raises(TypeError) as ours:
            action(make())
        assert 'pickle' in str(ours.value) and 'pickle' in str(theirs.value)
