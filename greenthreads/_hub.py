"""The hub: one scheduler greenlet per OS thread, a loop of named parts.

The hub owns everything a parked green thread can be woken by:

* ``ready``: a FIFO deque of ``(callable, argument)`` pairs.  Waking a green
  thread is appending ``(glet.switch, value)``; the hub calls each in turn.
* ``timers``: a :class:`~greenthreads._timers.TimerHeap` of callbacks due at
  ``time.monotonic()`` deadlines.
* ``poller``: the platform's :class:`~greenthreads._poller.Poller`, interest
  in file descriptors becoming readable or writable.
* a thread-safe entry, :meth:`Hub.call_threadsafe`, through a self-pipe, so a
  real OS thread can schedule work on this hub and wake it from the poller.

When none of these has anything, the idle policy (``_idle``) says whether
another OS thread or a signal could still wake the hub, or whether this is a
deadlock.  The hub knows nothing of threads, locks or waiters: those rooms
are built on top of it (``_park`` and up) and plug in through
:attr:`Hub.on_deadlock`, :attr:`Hub.on_error` and :data:`new_hub_hooks`.
"""

import sys
import time
import traceback
import weakref
from collections import deque

from greenlet import greenlet, getcurrent

from ._idle import census, idle_timeout, unstall, after_fork as idle_after_fork
from ._originals import real_get_ident as _real_get_ident, real_local as _real_local, \
    main_os_ident as _main_os_ident
from ._poller import DefaultPoller, MAX_TIMEOUT
from ._timers import TimerHeap
from ._wakeup import Wakeup

__all__ = ['Hub', 'Runner', 'RunnerPool', 'get_hub', 'use_hub', 'peek_hub', 'ident_of', 'hub_of_main', 'HubBlockingError',
           'new_hub_hooks', 'tls']

_monotonic = time.monotonic

# Green-to-green switches allowed between two hub turns.
_DIRECT_BUDGET = 64

# Idle runners kept per hub; beyond this a finished runner simply ends.
_MAX_IDLE_RUNNERS = 256


class HubBlockingError(RuntimeError):
    """A blocking call was made from inside the hub (e.g. a timer callback)."""


class Runner(greenlet):
    """A pooled greenlet that runs one job after another (see :class:`RunnerPool`).

    ``job`` is the argument of the job running now; ``ident`` and ``thread``
    describe it and ``waiter`` what it is parked on, filled in by the layers above.
    """
    __slots__ = ('ident', 'thread', 'job', 'waiter')


class RunnerPool:
    """The greenlets a hub runs jobs in, kept for the next job when one finishes.

    Starting a greenlet costs far more than switching to one (on Python 3.11+
    each new greenlet maps and unmaps a frame stack chunk).  At most
    ``_MAX_IDLE_RUNNERS`` are kept; beyond that a finished runner ends.
    """
    __slots__ = ('_idle', '_hub_greenlet')

    def __init__(self, hub_greenlet):
        self._idle = []
        self._hub_greenlet = hub_greenlet

    def start(self, job):
        """Run ``job``, a ``(func, arg)`` pair, in an idle runner or a new one (from the hub)."""
        idle = self._idle
        runner = idle.pop() if idle else Runner(self._run_jobs, self._hub_greenlet)
        runner.switch(job)

    def clear(self):
        """Forget the idle runners (after a fork)."""
        self._idle.clear()

    def _run_jobs(self, job):
        idle = self._idle
        hub_switch = self._hub_greenlet.switch
        while True:
            me = getcurrent()
            func, arg = job
            job = None
            me.job = arg
            func(arg)
            me.ident = me.thread = me.job = arg = None
            if len(idle) >= _MAX_IDLE_RUNNERS:
                return
            idle.append(me)
            # Not held while idle: the GC cannot see a suspended frame's
            # references, so a runner holding itself could never be freed.
            me = None
            while job is None or job.__class__ is not tuple or len(job) != 2:
                # Anything but a (func, arg) job is a stray switch: keep waiting.
                job = hub_switch()


class Hub:
    """The scheduler of one OS thread's green threads.  Create with :func:`get_hub`.

    Public state, read and written by the rooms above: ``ready``, ``timers``,
    ``poller``; ``direct_budget`` (switches a parking green thread may make
    straight to the next runnable one before the hub must look at timers
    and I/O); ``outside_refs`` (work in flight that a foreign OS thread will
    report back on: while non-zero an idle hub waits instead of declaring a
    deadlock); ``main_glet`` (this OS thread's main green thread: the root
    greenlet, or after a fork from another green thread, that one), what it
    is parked on (``main_waiter``) and ``main_calls`` (signal handlers' work for it).
    ``threadsafe_calls``, ``stalled``, ``suspect`` are read by ``_idle``, ``turns`` by ``debug``.
    """

    def __init__(self):
        root = getcurrent()
        while root.parent is not None:
            root = root.parent
        #: The OS thread's own (root) greenlet; errors for "the main thread" go here.
        self.root = root
        _root_idents[root] = _real_get_ident()
        self.greenlet = greenlet(self._run, root)
        self.ready = deque()
        self.timers = TimerHeap()
        self.threadsafe_calls = deque()
        self.main_calls = []
        self.runners = RunnerPool(self.greenlet)
        #: Called when nothing can ever run again; returns the exception to
        #: raise in the root greenlet.  Installed by the thread layer.
        self.on_deadlock = None
        #: Called with the exception when a callback run by the hub raises.
        self.on_error = None
        self.poller = self.wakeup = None
        self._reset(root, _real_get_ident() == _main_os_ident)

    def _reset(self, main_glet, is_main_os_thread, forked=False):
        """The state of a fresh hub; in a forked child, forget every parent's pending work.

        The parent's green threads do not exist in the child; what they were
        waiting on must never wake them.  Containers are cleared in place
        because the suspended hub loop holds references to them.
        """
        self.thread_ident = _real_get_ident()
        self.is_main_os_thread = is_main_os_thread
        if forked and self.main_glet is not main_glet:   # the old one is an ordinary green thread now
            self.main_glet.waiter = self.main_waiter
        self.main_glet = main_glet
        self.main_waiter = None
        _main_of[main_glet] = weakref.ref(self)
        for queue in (self.ready, self.timers, self.threadsafe_calls, self.main_calls,
                      self.runners):
            queue.clear()
        self.direct_budget = self.outside_refs = self.turns = 0
        self.stalled = False
        self.suspect = None        # census.epoch when this hub last found itself alone
        previous = None
        if self.poller is not None:
            previous = self.wakeup.write_fd
            self._close(forked)
        self.poller = DefaultPoller()
        self.wakeup = Wakeup(self.poller, is_main_os_thread, previous)

    def reinit_after_fork(self):
        """In a forked child: fresh poller and pipe, the forking green thread as the main one."""
        self._reset(getcurrent(), True, forked=True)
        idle_after_fork(self)

    # ----------------------------------------------------------- scheduling
    def call_soon(self, callback, arg=None):
        """Run ``callback(arg)`` in the hub at its next turn (same OS thread only)."""
        self.ready.append((callback, arg))

    def spawn(self, func, arg=None):
        """Run ``func(arg)`` in a green context of its own, starting at the hub's next turn.

        ``func`` must handle its own exceptions: one that escapes ends its
        runner (see :class:`RunnerPool`) and reaches the hub's error handling.
        """
        self.ready.append((self.runners.start, (func, arg)))

    def call_threadsafe(self, callback, arg=None):
        """Schedule ``callback(arg)`` on this hub from any OS thread and wake the hub."""
        self.threadsafe_calls.append((callback, arg))
        if self.stalled:
            unstall(self)
        self.wakeup.notify()

    def close_fd(self, fd):
        """``fd`` is about to be closed: drop its interest and make its waiters runnable.

        Each retries its call on the closed object and gets plain Python's error (EBADF).
        """
        self.ready.extend(self.poller.close_fd(fd))

    def take_threadsafe_calls(self):
        """Drain the wake-up pipe and hand over the pending cross-thread calls, for a caller that runs them itself."""
        self.wakeup.drain()
        calls = self.threadsafe_calls
        return [calls.popleft() for _ in range(len(calls))]

    def nothing_pending(self):
        """True if no timer, I/O interest or cross-thread call could make a turn of the hub useful."""
        return not self.timers.heap and not self.poller.waiting and not self.threadsafe_calls

    # ------------------------------------------------------------ main loop
    def _run(self, *_):     # (ignores what a switch into the hub carries)
        while True:
            try:
                self._loop()
            except BaseException as exc:  # noqa: B902 - the hub must survive anything
                if self.greenlet is None:   # let go as its OS thread ended (see _HubCloser)
                    return
                self._handle_error(exc)

    def _loop(self):
        ready = self.ready
        popleft = ready.popleft
        timers = self.timers
        heap = timers.heap
        calls = self.threadsafe_calls
        while True:
            # 1. What is runnable now; newcomers wait a turn so yielding threads cannot starve
            #    timers and I/O.  (Parking threads may also take entries: see direct_budget.)
            self.direct_budget = _DIRECT_BUDGET
            self.turns += 1
            if ready:
                self.suspect = None      # something ran: not alone (see _idle.alone)
            for _ in range(len(ready)):
                if not ready:
                    break
                cb, arg = popleft()
                cb(arg)
            # 2. Calls from other OS threads; 3. due timers.
            if calls:
                self.wakeup.pending = False
                while calls:
                    ready.append(calls.popleft())
            if heap:
                timers.run_due(_monotonic())
            # 4. Poll: not at all when there is work and nothing to poll for.
            poller = self.poller
            if ready:
                if not poller.waiting:
                    continue
                timeout = 0.0
            elif heap:
                timeout = min(max(timers.next_deadline() - _monotonic(), 0.0), MAX_TIMEOUT)
            elif calls:
                continue
            elif poller.waiting:
                timeout = -1
            else:
                timeout = idle_timeout(self)
                if timeout is None:
                    continue
            # 5. Fire the interests the poll finds ready.
            try:
                if poller.poll(timeout):
                    self.suspect = None
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
            finally:
                if self.stalled:
                    unstall(self)

    def _handle_error(self, exc):
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            # Ctrl-C (or sys.exit() in a signal handler) raised while the hub
            # ran: it belongs to the OS thread's main code.
            self._throw_root(exc)
            return
        if self.on_error is not None:
            try:
                self.on_error(exc)
                return
            except BaseException:  # pragma: no cover - broken hook
                pass
        try:
            sys.stderr.write('greenthreads hub: error in a callback\n')
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        except Exception:  # pragma: no cover - interpreter teardown
            pass

    def _throw_root(self, exc):
        if not self.root.dead:  # (else the OS thread is finishing)
            self.root.throw(exc)

    def close(self):
        """Release the hub's file descriptors (not while it runs); idempotent.

        Calls from other OS threads that come later are dropped."""
        self._close(False)

    def _close(self, forked):
        self.wakeup.close(forked)
        try:
            self.poller.close()
        except OSError:  # pragma: no cover
            pass


tls = _real_local()


class _HubCloser:
    """Closes a hub when its OS thread ends.

    Only the thread's own locals hold it: CPython drops them as the thread
    finishes, and with them this object, whose ``__del__`` then gives the
    hub's file descriptors back.  (The main OS thread's hub lives as long as
    the process, and gets none.)
    """
    __slots__ = ('hub',)

    def __init__(self, hub):
        self.hub = hub

    def __del__(self):
        hub = self.hub
        hub.close()
        # The GC cannot see into a suspended greenlet's frames, so cycles
        # through them are never collected: the hub loop's frame holds the
        # hub, an idle runner's the pool, which holds the hub's greenlet.
        # Let go of them: greenlet ends each (GreenletExit) as it is freed.
        hub.runners.clear()
        hub.runners = hub.greenlet = None


def get_hub():
    """The calling OS thread's hub, created on first use (and closed when that thread ends)."""
    try:
        return tls.hub
    except AttributeError:
        return use_hub(Hub())


def use_hub(hub):
    """Make ``hub``, a new Hub (or a subclass's) made in this OS thread, its hub; returns it.

    The OS thread must have none yet.  (greenthreads.testing runs each
    schedule in an OS thread of its own, under a hub of its own kind.)
    """
    if peek_hub() is not None:
        raise RuntimeError('this OS thread has a hub already')
    tls.hub = hub
    if hub.is_main_os_thread:
        census.main_hub = hub
    else:
        tls.closer = _HubCloser(hub)
    for hook in new_hub_hooks:
        hook(hub)
    return hub


def peek_hub():
    """The calling OS thread's hub, or None if it has none yet."""
    return getattr(tls, 'hub', None)


#: Callables run with every newly created hub (the thread layer installs its
#: deadlock reporter and error handler here).
new_hub_hooks = []


# Root greenlets report their OS thread's ident (every other greenlet: its id).
_root_idents = weakref.WeakKeyDictionary()
# Each hub's main green thread -> a weak reference to that hub.  (Weak both
# ways: the hub holds its main green thread, and a strong value would keep
# the key, and so the hub and its greenlets, alive after their OS thread ended.)
_main_of = weakref.WeakKeyDictionary()


def hub_of_main(glet):
    """The hub whose main green thread ``glet`` is, or None."""
    ref = _main_of.get(glet)
    hub = ref() if ref is not None else None
    return hub if hub is not None and hub.main_glet is glet else None


def ident_of(glet):
    """The thread ident ``get_ident()`` reports in greenlet ``glet`` (0 for None)."""
    if glet is None:
        return 0
    if glet.__class__ is Runner:
        return glet.ident or id(glet)
    if glet.parent is not None:
        return id(glet)
    if glet is getcurrent():
        return _real_get_ident()
    return _root_idents.get(glet) or id(glet)
