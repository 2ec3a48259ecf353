"""greenthreads.debug: what every green thread is doing, and the deadlock report."""

import io
import os
import subprocess
import sys
import time

import pytest

import greenthreads
from greenthreads import debug
from conftest import spawn


def _parked_on(target):
    """A green thread started on ``target`` that has run and parked in it."""
    t = spawn(target, daemon=True)
    greenthreads.sleep(0.01)
    return t


def _blocked_pair():
    lock = greenthreads.Lock()
    lock.acquire()
    event = greenthreads.Event()
    return lock, event, _parked_on(lambda: lock.acquire()), _parked_on(lambda: event.wait())


def _release(lock, event, *threads):
    lock.release()
    event.set()
    for t in threads:
        t.join()


def test_blocked_threads_lists_each_parked_thread_with_what_it_waits_on():
    lock, event, a, b = _blocked_pair()
    try:
        blocked = {thread: (waiter.reason, frame) for thread, waiter, frame in debug.blocked_threads()}
        assert set(blocked) == {a, b}           # not the running thread, not finished ones
        assert blocked[a][0] is lock and blocked[b][0] is event
        assert all(frame is not None for _, frame in blocked.values())
    finally:
        _release(lock, event, a, b)
    assert debug.blocked_threads() == []


def test_format_all_and_dump_all_give_every_thread_its_wait_and_stack():
    lock, event, a, b = _blocked_pair()
    try:
        text = debug.format_all()
        out = io.StringIO()
        debug.dump_all(out)
        names = [repr(x) for x in (greenthreads.main_thread(), a, lock, b, event)]
    finally:
        _release(lock, event, a, b)
    # (The running thread's own stack differs by the line it runs.)
    assert out.getvalue().split('\n\n', 1)[1] == text.split('\n\n', 1)[1] + '\n'
    chunks = text.split('\n\n')
    assert len(chunks) == 3                     # the main thread, a and b
    heads = [chunk.split('\n', 1)[0] for chunk in chunks]
    main, a, lock, b, event = names
    assert heads[0] == main + ' running (this dump)'     # running: no wait
    assert f'{a} waiting on {lock}' in heads
    assert f'{b} waiting on {event}' in heads
    # The running thread's stack ends in this test, the parked ones in the wait.
    assert 'in test_format_all_and_dump_all_give_every_thread_its_wait_and_stack' in chunks[0]
    assert all('in <lambda>' in chunk for chunk in chunks[1:])
    # (Compiled, park() has no Python frame to show.)
    assert all(('in park' in chunk) != greenthreads.compiled for chunk in chunks[1:])


def test_deadlock_error_names_each_blocked_thread_and_where_it_waits():
    lock, event, a, b = _blocked_pair()
    try:
        message = str(debug.deadlock_error(None))
        expected = [f'  {a!r} waits on {lock!r}  [{__file__}:', f'  {b!r} waits on {event!r}  [{__file__}:']
    finally:
        _release(lock, event, a, b)
    lines = message.split('\n')
    assert lines[0] == 'every green thread is blocked and nothing can wake them:'
    # Each with where it waits: the innermost frame outside greenthreads.
    assert sorted(line[:line.rindex(':')] + ':' for line in lines[1:]) == sorted(expected)


# ------------------------------------------------------------------ stall monitor
def busy_loop_for_the_monitor(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.mark.timeout(30)
def test_a_busy_loop_is_reported_once_with_its_stack():
    out = io.StringIO()
    monitor = greenthreads.debug.monitor_stalls(0.1, file=out)
    try:
        t = greenthreads.Thread(target=busy_loop_for_the_monitor, args=(0.3,), name='cruncher')
        t.start()
        t.join()
        greenthreads.sleep(0.05)        # (the watchdog's last look)
    finally:
        greenthreads.debug.monitor_stalls(None)
    text = out.getvalue()
    assert monitor.reports == 1, text
    assert 'Thread(cruncher,' in text and 'without a switch' in text
    assert 'busy_loop_for_the_monitor' in text      # the stack at the time


@pytest.mark.timeout(30)
def test_threads_that_switch_or_wait_are_not_stalls():
    out = io.StringIO()
    monitor = greenthreads.debug.monitor_stalls(0.05, file=out)
    try:
        ping, pong = greenthreads.Event(), greenthreads.Event()
        end = time.monotonic() + 0.4

        def player(mine, theirs):
            while time.monotonic() < end:
                theirs.set()
                mine.wait(0.01)
                mine.clear()
        threads = [greenthreads.Thread(target=player, args=(ping, pong)),
                   greenthreads.Thread(target=player, args=(pong, ping)),
                   greenthreads.Thread(target=greenthreads.sleep, args=(0.4,))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        greenthreads.sleep(0.3)         # an idle hub, waiting in the poller
    finally:
        greenthreads.debug.monitor_stalls(None)
    assert monitor.reports == 0, out.getvalue()


def _python(code, **environ):
    """Run ``python -c code`` with ``environ`` added to the environment."""
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=50,
                          env=dict(os.environ, **environ))


@pytest.mark.timeout(60)
def test_stall_monitor_from_the_environment():
    code = ('import greenthreads, time\n'
            'def crunch():\n'
            '    end = time.monotonic() + 0.3\n'
            '    while time.monotonic() < end: pass\n'
            't = greenthreads.Thread(target=crunch, name="envcrunch"); t.start(); t.join()\n'
            'greenthreads.sleep(0.1)\n')
    proc = _python(code, GREENTHREADS_STALL_MS='100')
    assert proc.returncode == 0, proc.stderr
    assert 'Thread(envcrunch,' in proc.stderr and 'in crunch' in proc.stderr


def test_stall_monitor_rejects_a_bad_threshold():
    with pytest.raises(ValueError):
        greenthreads.debug.monitor_stalls(0)
    assert greenthreads.debug.monitor_stalls(None) is None


# ------------------------------------------------------------------ stacks on demand
def test_dump_on_signal_prints_every_thread_and_the_program_goes_on():
    import signal
    out = io.StringIO()
    old = debug.dump_on_signal(signal.SIGUSR1, file=out)
    try:
        gate = greenthreads.Event()
        parked = greenthreads.Thread(target=gate.wait, name='parked-one')
        sleeper = greenthreads.Thread(target=greenthreads.sleep, args=(0.2,), name='sleeper')
        parked.start()
        sleeper.start()
        greenthreads.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)
        greenthreads.sleep(0.01)
        gate.set()
        parked.join()
        sleeper.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    text = out.getvalue()
    assert 'Thread(parked-one,' in text and 'waiting on' in text
    assert 'Thread(sleeper,' in text
    assert 'running (this dump)' in text
    assert 'test_dump_on_signal_prints_every_thread' in text     # the interrupted stack


@pytest.mark.timeout(60)
def test_the_runner_dumps_on_a_signal_even_from_a_thread_that_never_switches(tmp_path):
    import signal
    script = tmp_path / 'busy.py'
    script.write_text(
        'import sys, threading, time\n'
        'def spin_without_switching():\n'
        '    print("ready", flush=True)\n'
        '    end = time.monotonic() + 3\n'
        '    while time.monotonic() < end: pass\n'
        't = threading.Thread(target=spin_without_switching, name="spinner"); t.start(); t.join()\n'
        'print("finished", flush=True)\n')
    proc = subprocess.Popen([sys.executable, '-m', 'greenthreads', '--dump-on', 'SIGUSR1', str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == 'ready\n'
    proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out == 'finished\n', err
    assert 'Thread(spinner,' in err and 'spin_without_switching' in err
    assert 'MainThread' in err and 'waiting on' in err      # main, in join()


def test_the_runner_rejects_a_bad_dump_signal():
    proc = subprocess.run([sys.executable, '-m', 'greenthreads', '--dump-on', 'SIGNOPE', '-c', 'pass'],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and 'no such signal: SIGNOPE' in proc.stderr


# ------------------------------------------------------------------ lock order
@pytest.fixture
def lockdep():
    checker = debug.check_lock_order()
    try:
        yield checker
    finally:
        debug.check_lock_order(False)


def _in_thread(fn, name=None):
    """Run ``fn`` in a green thread of its own; return what it raised (or None)."""
    caught = []

    def body():
        try:
            fn()
        except BaseException as exc:     # noqa: B902 - handed to the test
            caught.append(exc)
    t = greenthreads.Thread(target=body, name=name)
    t.start()
    t.join()
    return caught[0] if caught else None


def _nest(first, then):
    def body():
        with first:
            with then:
                pass
    return body


def test_an_abba_order_is_reported_though_the_run_never_deadlocked(lockdep):
    a, b = greenthreads.Lock(), greenthreads.RLock()
    assert _in_thread(_nest(a, b), 'one') is None
    error = _in_thread(_nest(b, a), 'two')       # after 'one' ended: nothing could deadlock
    assert isinstance(error, debug.LockOrderError)
    assert error.taking is a and error.held is b
    text = str(error)
    assert f'<Lock at {id(a):#x}>' in text and f'<RLock at {id(b):#x}>' in text
    assert "'one' took <RLock" in text and "'two' takes <Lock" in text
    assert text.count('with then:') == 2        # the stack of each order
    assert not a.locked() and not b.locked()     # the failed acquire gave the lock back
    assert lockdep.reports == 1


def test_the_order_is_checked_before_a_wait_that_would_deadlock(lockdep):
    a, b = greenthreads.Lock(), greenthreads.Lock()
    holding_a, go = greenthreads.Event(), greenthreads.Event()
    errors = []

    def one():
        with a:
            holding_a.set()
            go.wait()
            with b:        # 'two' holds b and waits for a: the real deadlock
                pass

    def two():
        holding_a.wait()
        with b:
            go.set()
            greenthreads.sleep(0.01)       # 'one' now waits for b
            try:
                with a:
                    pass
            except debug.LockOrderError as exc:
                errors.append(exc)
    threads = [spawn(one), spawn(two)]
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 1 and errors[0].taking is a


def test_a_cycle_through_three_locks_names_each_order(lockdep):
    a, b, c = (greenthreads.Lock() for _ in range(3))
    assert _in_thread(_nest(a, b)) is None
    assert _in_thread(_nest(b, c)) is None
    error = _in_thread(_nest(c, a))
    assert isinstance(error, debug.LockOrderError)
    assert [(first, then) for first, then, _, _ in error.path] == [
        (f'<Lock at {id(a):#x}>', f'<Lock at {id(b):#x}>'),
        (f'<Lock at {id(b):#x}>', f'<Lock at {id(c):#x}>')]


def test_conditions_and_semaphores_used_as_locks_are_ordered(lockdep):
    outer, sem = greenthreads.Lock(), greenthreads.Semaphore()
    cond = greenthreads.Condition()
    assert _in_thread(_nest(outer, cond)) is None
    assert _in_thread(_nest(cond, sem)) is None

    def waits_while_holding_sem():
        with sem:
            with cond:
                cond.wait(0.001)      # gives the lock up and takes it again, holding sem
    error = _in_thread(waits_while_holding_sem)
    assert isinstance(error, debug.LockOrderError) and error.taking is cond._lock
    # A Semaphore acquired and released as a signal orders nothing.
    signal_sem = greenthreads.Semaphore(0)
    signal_sem.release()

    def signal_use():
        with outer:
            signal_sem.acquire()
    assert _in_thread(signal_use) is None
    signal_sem.release()
    assert _in_thread(_nest(signal_sem, outer)) is None


def test_warn_mode_warns_once_per_pair_and_takes_the_lock():
    debug.check_lock_order(warn=True)
    try:
        a, b = greenthreads.Lock(), greenthreads.Lock()
        assert _in_thread(_nest(a, b)) is None
        with pytest.warns(debug.LockOrderError) as caught:
            for _ in range(3):
                assert _in_thread(_nest(b, a)) is None
        assert len(caught) == 1 and caught[0].filename == __file__
    finally:
        debug.check_lock_order(False)


def test_a_try_lock_cannot_wait_so_orders_nothing_before_it(lockdep):
    a, b = greenthreads.Lock(), greenthreads.Lock()

    def try_b_under_a():
        with a:
            assert b.acquire(False)
            b.release()
    assert _in_thread(try_b_under_a) is None
    assert _in_thread(_nest(b, a)) is None


def test_a_lock_released_by_another_thread_is_no_longer_held(lockdep):
    a, b = greenthreads.Lock(), greenthreads.Lock()
    a.acquire()
    _in_thread(a.release)       # Lock allows it; the main thread holds nothing now
    with b:
        pass                    # so this made no a -> b order
    assert _in_thread(_nest(b, a)) is None


def test_dead_locks_leave_the_graph(lockdep):
    outer = greenthreads.Lock()
    for _ in range(500):
        inner = greenthreads.Lock()
        with outer:
            with inner:
                pass
    del inner
    with outer:
        with greenthreads.Lock():
            pass
    assert len(lockdep._refs) <= 3


def test_stopping_the_checker_stops_the_checks():
    debug.check_lock_order()
    a, b = greenthreads.Lock(), greenthreads.Lock()
    assert _in_thread(_nest(a, b)) is None
    debug.check_lock_order(False)
    assert _in_thread(_nest(b, a)) is None
    assert greenthreads.Semaphore.__enter__ is greenthreads.Semaphore.acquire


@pytest.mark.timeout(60)
def test_lock_order_checker_from_the_environment():
    code = ('import greenthreads as threading\n'
            'a, b = threading.Lock(), threading.Lock()\n'
            'with a:\n'
            '    with b: pass\n'
            'with b:\n'
            '    with a: pass\n')
    proc = _python(code, GREENTHREADS_LOCKDEP='1')
    assert proc.returncode == 1 and 'LockOrderError: lock order inversion' in proc.stderr


def test_a_semaphore_held_by_several_threads_or_nested_is_no_false_order(lockdep):
    sem, lock = greenthreads.Semaphore(2), greenthreads.Lock()

    def nested():
        with sem:
            with sem:
                pass
        with lock:
            with sem:        # sem is let go: lock -> sem, fine
                pass
    assert _in_thread(nested) is None
    inside, go = greenthreads.Event(), greenthreads.Event()

    def holds():
        with sem:
            inside.set()
            go.wait()
    t = spawn(holds)
    inside.wait()
    with sem:
        pass                 # released by this thread while 'holds' keeps its unit
    go.set()
    t.join()
    assert lockdep._held == {} and lockdep._holders == {}     # nobody holds anything
    assert lockdep.reports == 0


def test_a_reused_greenlet_does_not_inherit_what_an_ended_thread_held(lockdep):
    handoff, a = greenthreads.Lock(), greenthreads.Lock()
    _in_thread(handoff.acquire)       # ends holding it: the main thread will release it
    assert _in_thread(lambda: (a.acquire(), a.release())) is None   # on the same pooled greenlet
    handoff.release()
    with a:
        assert handoff.acquire()      # no handoff -> a order was ever made
        handoff.release()
    assert lockdep.reports == 0


def test_a_condition_over_a_lock_returns_from_wait_holding_it_even_on_a_bad_order(lockdep):
    cond, b = greenthreads.Condition(greenthreads.Lock()), greenthreads.Lock()
    assert _in_thread(_nest(cond, b)) is None          # cond's lock -> b

    def waits_holding_b():
        with b:
            with cond:
                cond.wait(0.001)      # takes cond's lock back while holding b
    error = _in_thread(waits_holding_b)
    assert isinstance(error, debug.LockOrderError), error
    assert not cond._lock.locked() and not b.locked()


def test_warn_mode_warns_each_inversion_of_locks_that_lived_and_died():
    debug.check_lock_order(warn=True)
    try:
        with pytest.warns(debug.LockOrderError) as caught:
            for _ in range(50):
                a, b = greenthreads.Lock(), greenthreads.Lock()
                _in_thread(_nest(a, b))
                _in_thread(_nest(b, a))
                del a, b
        assert len(caught) == 50
    finally:
        debug.check_lock_order(False)
