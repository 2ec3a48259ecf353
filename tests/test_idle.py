"""The idle policy: who could still wake an idle hub, and when it is a deadlock."""

import signal
import _thread

import pytest
import threading as std_threading

from greenthreads import _idle
from greenthreads._idle import census, alone, stall, unstall, idle_timeout, DeadlockError


class FakeHub:
    """What the idle policy reads of a hub."""

    def __init__(self, main=True):
        self.is_main_os_thread = main
        self.outside_refs = 0
        self.threadsafe_calls = []
        self.stalled = False
        self.suspect = None
        self.on_deadlock = None
        self.calls = []

    def call_threadsafe(self, callback, arg=None):
        self.calls.append(callback)


@pytest.fixture
def other_threads(monkeypatch):
    """Sets how many other OS threads ``_thread._count()`` reports; none idle, starting or stalled."""
    count = [0]
    monkeypatch.setattr(_idle, '_real_thread_count', lambda: count[0])
    monkeypatch.setattr(census, 'idle_workers', 0)
    monkeypatch.setattr(census, 'starting_workers', 0)
    monkeypatch.setattr(census, 'stalled', set())
    return count


def test_alone_only_when_no_other_os_thread_could_call_in(other_threads):
    hub = FakeHub()
    assert alone(hub) is True
    other_threads[0] = 1
    assert alone(hub) is False
    census.idle_workers = 1                     # that thread is an idle pool worker
    assert alone(hub) is True


def test_with_outside_work_the_verdict_must_hold_twice(other_threads):
    hub = FakeHub()
    hub.outside_refs = 1
    assert alone(hub) is None                   # first look: not sure yet
    assert alone(hub) is True                   # nothing changed since
    hub.suspect = None                          # the hub ran something meanwhile
    assert alone(hub) is None
    census.epoch += 1                           # another OS thread changed something
    assert alone(hub) is None


def test_a_stalled_hub_counts_as_an_os_thread_that_cannot_run(other_threads):
    other_threads[0] = 1                        # the stalling hub's own OS thread
    hub, main = FakeHub(main=False), FakeHub()
    saved = census.main_hub
    census.main_hub = main
    try:
        before = census.epoch
        assert stall(hub) is True and hub.stalled and hub in census.stalled
        assert census.epoch > before
        # No OS thread could run now: the main hub is told to look again.
        assert len(main.calls) == 1
        unstall(hub)
        assert not hub.stalled and hub not in census.stalled
        hub.threadsafe_calls.append('a call came in')
        assert stall(hub) is False and not hub.stalled
    finally:
        census.main_hub = saved


def test_idle_timeout_of_another_os_threads_hub_waits_for_ever(other_threads):
    hub = FakeHub(main=False)
    assert idle_timeout(hub) == -1 and hub.stalled
    unstall(hub)
    hub.outside_refs = 1
    assert idle_timeout(hub) == -1 and not hub.stalled


def test_the_deadlock_is_thrown_into_the_root_greenlet(monkeypatch):
    import greenlet
    monkeypatch.setattr(_idle.Census, 'others_may_run', lambda self: False)
    monkeypatch.setattr(_idle, 'signal_may_wake', lambda: False)
    hub = FakeHub()
    hub.on_deadlock = lambda h: DeadlockError('reported')
    caught = []

    def root_side():
        try:
            greenlet.getcurrent().parent.switch()
        except DeadlockError as exc:
            caught.append(str(exc))
    hub.root = greenlet.greenlet(root_side)
    hub.root.switch()
    assert idle_timeout(hub) is None
    assert caught == ['reported']


def test_signal_may_wake_only_with_a_handler_that_can_run(monkeypatch):
    monkeypatch.setattr(_idle, '_SIGNALS', [signal.SIGUSR2])
    previous = signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    try:
        assert _idle.signal_may_wake() is False
        signal.signal(signal.SIGUSR2, signal.default_int_handler)   # raises, wakes nobody
        assert _idle.signal_may_wake() is False
        signal.signal(signal.SIGUSR2, lambda *a: None)
        assert _idle.signal_may_wake() is True
    finally:
        signal.signal(signal.SIGUSR2, previous)
    if signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0):
        monkeypatch.setattr(_idle, '_SIGNALS', [signal.SIGALRM])
        previous = signal.signal(signal.SIGALRM, lambda *a: None)
        try:
            assert _idle.signal_may_wake() is False    # no alarm armed: it cannot fire
        finally:
            signal.signal(signal.SIGALRM, previous)


def test_catchable_signals_leave_out_kill_and_stop():
    sigs = _idle.catchable_signals()
    assert signal.SIGINT in sigs and signal.SIGKILL not in sigs and signal.SIGSTOP not in sigs
    assert sigs == sorted(sigs)


def test_idle_pool_workers_do_not_count_as_threads_that_may_run():
    stop = std_threading.Event()
    t = std_threading.Thread(target=stop.wait)
    t.start()
    saved = census.idle_workers
    try:
        with census.lock:
            before = census.others_may_run()
            # As if every other OS thread were an idle pool worker.
            census.idle_workers = _thread._count() + census.starting_workers - len(census.stalled)
            after = census.others_may_run()
    finally:
        census.idle_workers = saved
        stop.set()
        t.join()
    assert before is True and after is False
