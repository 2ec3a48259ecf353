"""Condition, Semaphore, BoundedSemaphore, Event and Barrier for green threads.

Each is built directly on park/unpark wait queues (no per-waiter lock objects
as in CPython's pure-Python versions) and keeps CPython's observable contract:
signatures, return values, exception types and messages, reprs and the
``Condition`` lock protocol (``_is_owned``, ``_release_save``,
``_acquire_restore``).  Semaphores hand a released unit straight to the
longest waiter, so a releaser cannot barge ahead of threads already waiting.
"""

import threading as _std_threading
import time
import warnings
from functools import partial
from operator import not_

from ._locks import Lock, RLock, check_acquire_args, lazy_queue
from ._park import WaitQueue, PENDING

__all__ = ['Condition', 'Semaphore', 'BoundedSemaphore', 'Event', 'Barrier', 'watch',
           'BrokenBarrierError']

_monotonic = time.monotonic

# Seconds between two looks at the predicate of a wait_for(pred, nan).
_NAN_POLL_INTERVAL = 0.001


def _stdlib_has_repr(name):
    # Reprs and checks follow the running Python's own classes (some arrived
    # in 3.13, some were backported to 3.11/3.12 point releases).
    return '__repr__' in vars(getattr(_std_threading, name))


def _stdlib_barrier_rejects_zero_parties():
    try:
        _std_threading.Barrier(0)
    except ValueError:
        return True
    return False


_BARRIER_CHECKS_PARTIES = _stdlib_barrier_rejects_zero_parties()


def _stdlib_release_wants_an_integer():
    # 3.10/3.11 notify once per unit, ``for i in range(n)``; 3.12+ call notify(n).
    try:
        _std_threading.Semaphore(0).release(1.5)
    except TypeError:
        return True
    return False


_RELEASE_WANTS_AN_INTEGER = _stdlib_release_wants_an_integer()

# The stdlib's own class, so ``except threading.BrokenBarrierError`` catches ours.
BrokenBarrierError = _std_threading.BrokenBarrierError


def _positive_timeout(timeout):
    """None for no limit, else seconds > 0 validated like a lock timeout; 0.0 if not positive."""
    if timeout is None:
        return None
    if timeout > 0:
        return check_acquire_args(True, timeout)
    return 0.0


def _deadline_timeout(timeout):
    """``Semaphore.acquire``'s timeout: None (no limit) for NaN, else as :func:`_positive_timeout`.

    The stdlib's acquire loops until ``_time() + timeout`` has passed: a
    non-number raises that addition's TypeError, and a NaN deadline never
    passes, so it polls until a unit comes, for ever.  Waiting without a
    limit is the same, without the spinning.
    """
    seconds = 0.0 + timeout   # the stdlib's TypeError for non-numbers
    if seconds != seconds:    # NaN
        return None
    return _positive_timeout(timeout)


class Condition:
    """A condition variable over any lock-like object (an RLock by default)."""

    def __init__(self, lock=None):
        if lock is None:
            lock = RLock()
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        # Use the lock's own protocol when it has one, as CPython does.
        if hasattr(lock, '_release_save'):
            self._release_save = lock._release_save
        if hasattr(lock, '_acquire_restore'):
            self._acquire_restore = lock._acquire_restore
        if hasattr(lock, '_is_owned'):
            self._is_owned = lock._is_owned
        elif type(lock) is Lock:
            # The fallback below, answered in C: our Lock cannot be taken
            # exactly when it is locked (its set of free tokens is empty).
            self._is_owned = partial(not_, lock._free)
        self._waiters = WaitQueue()

    def _at_fork_reinit(self):
        self._lock._at_fork_reinit()
        self._waiters = WaitQueue()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *args):
        return self._lock.__exit__(*args)

    def __repr__(self):
        return '<Condition(%s, %d)>' % (self._lock, len(self._waiters))

    def _release_save(self):
        self._lock.release()

    def _acquire_restore(self, x):
        if _watch is None:
            self._lock.acquire()
        else:
            _watch.retake(self._lock)    # held on the way out, whatever the order

    def _is_owned(self):
        # Same heuristic as CPython for locks without _is_owned: a lock that
        # can be taken now was not ours.  Never switches.
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def wait(self, timeout=None):
        """Release the lock, wait for a notify (or the timeout), re-acquire.

        Returns True if notified, False if the timeout expired.
        """
        if not self._is_owned():
            raise RuntimeError('cannot wait on un-acquired lock')
        if timeout is not None:
            # 0 for a non-positive timeout: a poll that never parks (only
            # another OS thread could notify us meanwhile).
            timeout = _positive_timeout(timeout)
        saved = []

        def release(_):
            # Queued first, then the lock let go: a notify made by whoever
            # takes the lock next must find us.
            saved.append(self._release_save())
            return PENDING
        try:
            return self._waiters.wait(release, timeout, self)
        finally:
            if saved:
                self._acquire_restore(saved[0])

    def wait_for(self, predicate, timeout=None):
        """Wait until ``predicate()`` is true (or the timeout); return its last value.

        As in the stdlib, a NaN timeout never expires: the predicate is
        polled until it holds.
        """
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = _monotonic() + waittime
                    if endtime != endtime:   # NaN
                        return self._poll_for(predicate)
                else:
                    waittime = endtime - _monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def _poll_for(self, predicate):
        # A NaN timeout: the stdlib's deadline never passes, and its wait(nan)
        # returns at once, so it polls the predicate until it holds, for
        # ever.  Poll too, but parked between polls (a notify ends the nap
        # early) rather than spinning, which would also starve the green
        # threads that could make the predicate true.
        while True:
            self.wait(_NAN_POLL_INTERVAL)
            result = predicate()
            if result:
                return result

    def notify(self, n=1):
        """Wake up to ``n`` threads waiting on this condition (longest-waiting first)."""
        if not self._is_owned():
            raise RuntimeError('cannot notify on un-acquired lock')
        q: WaitQueue = self._waiters
        if not q.entries:
            return
        with q.mutex:
            while n > 0 and q.claim_next() is not None:
                n -= 1

    def notify_all(self):
        """Wake every thread waiting on this condition."""
        if not self._is_owned():
            raise RuntimeError('cannot notify on un-acquired lock')
        self._waiters.wake_all()

    def notifyAll(self):
        """Deprecated alias of :meth:`notify_all`."""
        warnings.warn('notifyAll() is deprecated, use notify_all() instead',
                      DeprecationWarning, stacklevel=2)
        self.notify_all()


class Semaphore:
    """A counter of available units; ``acquire`` takes one, ``release`` returns n.

    Every change of the count happens under a real mutex (never held across
    a switch), so real OS threads may share the semaphore with green ones.
    """

    def __init__(self, value=1):
        if value < 0:
            raise ValueError('semaphore initial value must be >= 0')
        self._value = value
        self._waiters = WaitQueue()

    if _stdlib_has_repr('Semaphore'):
        def __repr__(self):
            cls = self.__class__
            return f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}: value={self._value}>'

    def acquire(self, blocking=True, timeout=None):
        """Take one unit; return True, or False if none became available in time.

        As in the stdlib, a NaN timeout never expires.
        """
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        q: WaitQueue = self._waiters
        with q.mutex:
            if self._value:   # not "> 0": the stdlib waits while the value == 0
                self._value -= 1
                return True
        if not blocking:
            return False
        if timeout is not None:
            timeout = _deadline_timeout(timeout)
            if timeout == 0.0:
                return False
        # Woken means a releaser handed us a unit: undo gives it back.
        return q.wait(_semaphore_take, timeout, self, self._give_back)

    def _take(self):
        if self._value:
            self._value -= 1
            return True
        return PENDING

    def _give_back(self, value):
        self._give(1)

    __enter__ = acquire

    def release(self, n=1):
        """Return ``n`` units, handing each to a waiter if one is waiting.

        ``n`` must be an integer where the running Python's ``release`` wants
        one (before 3.12); a rejected ``n`` changes nothing.
        """
        if n < 1:
            raise ValueError('n must be one or more')
        self._give(n)

    def _give(self, n, limit=None):
        q: WaitQueue = self._waiters
        with q.mutex:
            if limit is not None and self._value + n > limit:
                raise ValueError('Semaphore released too many times')
            if n.__class__ is not int and _RELEASE_WANTS_AN_INTEGER:
                range(n)   # the stdlib's TypeError, raised where it is raised
            # One unit per waiter while any of n is left, the rest banked: for
            # a fractional n (3.12+) that is the stdlib's value += n followed
            # by notify(n), whose last waiter takes a unit of which only a
            # fraction was there.
            while n > 0 and q.entries and q.claim_next() is not None:
                n -= 1
            self._value += n

    def __exit__(self, t, v, tb):
        self.release()

    # The with-statement's pair while the lock-order checker runs (see watch()).
    def _watched_enter(self, blocking=True, timeout=None):
        hooks = _watch
        if hooks is not None and blocking and not self._value:
            hooks.check(self)
        got = Semaphore.acquire(self, blocking, timeout)
        if got and hooks is not None:
            hooks.took(self, blocking, True)
        return got

    def _watched_exit(self, t, v, tb):
        if _watch is not None:
            _watch.gave(self)
        self.release()


# wait()'s retry as a plain function of the semaphore (no bound method per wait).
_semaphore_take = Semaphore._take

# The lock-order checker's hooks while it runs, else None.
_watch = None
_UNWATCHED = (Semaphore.__enter__, Semaphore.__exit__)


def watch(hooks):
    """As ``_locks.watch``, for a Semaphore taken by a with-statement: one used as a lock.

    (Plain ``acquire``/``release`` is a semaphore used as a signal, often let
    go by another thread: it orders nothing.)  Swaps ``Semaphore.__enter__``
    and ``__exit__``, so while nothing watches a with-block pays nothing.
    A Condition's wait takes a lock without its own ``_acquire_restore``
    back through ``hooks.retake(lock)``.
    """
    global _watch
    _watch = hooks
    if hooks is None:
        Semaphore.__enter__, Semaphore.__exit__ = _UNWATCHED
    else:
        Semaphore.__enter__ = Semaphore._watched_enter
        Semaphore.__exit__ = Semaphore._watched_exit


class BoundedSemaphore(Semaphore):
    """A semaphore whose value may never exceed its initial value."""

    def __init__(self, value=1):
        super().__init__(value)
        self._initial_value = value

    if _stdlib_has_repr('BoundedSemaphore'):
        def __repr__(self):
            cls = self.__class__
            return (f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}:'
                    f' value={self._value}/{self._initial_value}>')

    def release(self, n=1):
        """Return ``n`` units; ValueError if that would exceed the initial value."""
        if n < 1:
            raise ValueError('n must be one or more')
        self._give(n, self._initial_value)


class _EventState:
    """What an Event is made of, and its hot methods.

    Compiled, this is an extension type with typed fields (see _sync.pxd);
    :class:`Event` is the public class on top, a plain class like the
    stdlib's (a signature, a writable ``__module__``, a ``__dict__``).
    """
    __slots__ = ('_flag', '_waiters', '__weakref__')

    def _at_fork_reinit(self):
        self._waiters = None

    def is_set(self):
        """Return True if the flag is set."""
        return self._flag

    def set(self):
        """Set the flag and wake every waiting thread."""
        self._flag = True
        q: WaitQueue = self._waiters
        if q is not None and q.entries:
            with q.mutex:
                q.claim_all()

    def clear(self):
        """Reset the flag to false."""
        self._flag = False

    def wait(self, timeout=None):
        """Block until the flag is set or the timeout expires; return True if it was set."""
        if self._flag:
            return True
        if timeout is not None:
            timeout = _positive_timeout(timeout)
            if not timeout:
                return False
        q: WaitQueue = self._waiters
        if q is None:
            q = lazy_queue(self)
        return q.wait(_event_retry, timeout, self)

    def _retry(self):
        return True if self._flag else PENDING   # set meanwhile (from another OS thread)


# wait()'s retry as a plain function of the event (no bound method per wait).
_event_retry = _EventState._retry


class Event(_EventState):
    """A flag that threads can wait to become true."""

    def __init__(self):
        self._flag = False
        self._waiters = None

    if _stdlib_has_repr('Event'):
        def __repr__(self):
            cls = self.__class__
            status = 'set' if self._flag else 'unset'
            return f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}: {status}>'

    def isSet(self):
        """Deprecated alias of :meth:`is_set`."""
        warnings.warn('isSet() is deprecated, use is_set() instead',
                      DeprecationWarning, stacklevel=2)
        return self.is_set()


# Tracebacks and reprs (``to_thread(event.set)``) name the methods as the stdlib's.
for _name, _method in vars(_EventState).items():
    if callable(_method) and not _name.startswith('__'):
        _method.__qualname__ = f'Event.{_name}'
del _name, _method


class Barrier:
    """A barrier for a fixed number of parties (CPython's state machine).

    States: 0 filling, 1 draining, -1 resetting, -2 broken.
    """

    def __init__(self, parties, action=None, timeout=None):
        if _BARRIER_CHECKS_PARTIES and parties < 1:
            raise ValueError('parties must be > 0')
        self._cond = Condition(Lock())
        self._action = action
        self._timeout = timeout
        self._parties = parties
        self._state = 0
        self._count = 0

    if _stdlib_has_repr('Barrier'):
        def __repr__(self):
            cls = self.__class__
            if self.broken:
                return f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}: broken>'
            return (f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}:'
                    f' waiters={self.n_waiting}/{self.parties}>')

    def wait(self, timeout=None):
        """Wait for all parties; return this party's arrival index (0 .. parties-1)."""
        if timeout is None:
            timeout = self._timeout
        with self._cond:
            self._enter()
            index = self._count
            self._count += 1
            try:
                if index + 1 == self._parties:
                    self._release()
                else:
                    self._wait(timeout)
                return index
            finally:
                self._count -= 1
                self._exit()

    def _enter(self):
        # Wait for a previous round to drain or a reset to finish.
        while self._state in (-1, 1):
            self._cond.wait()
        if self._state < 0:
            raise BrokenBarrierError
        assert self._state == 0

    def _release(self):
        # The last party: run the action, then let everyone go.
        try:
            if self._action:
                self._action()
            self._state = 1
            self._cond.notify_all()
        except BaseException:
            self._break()
            raise

    def _wait(self, timeout):
        if not self._cond.wait_for(lambda: self._state != 0, timeout):
            self._break()
            raise BrokenBarrierError
        if self._state < 0:
            raise BrokenBarrierError
        assert self._state == 1

    def _exit(self):
        # The last party out of a drain or reset re-opens the barrier.
        if self._count == 0 and self._state in (-1, 1):
            self._state = 0
            self._cond.notify_all()

    def reset(self):
        """Return the barrier to empty; current waiters get BrokenBarrierError."""
        with self._cond:
            if self._count > 0:
                if self._state in (0, -2):
                    self._state = -1
            else:
                self._state = 0
            self._cond.notify_all()

    def abort(self):
        """Put the barrier into the broken state."""
        with self._cond:
            self._break()

    def _break(self):
        self._state = -2
        self._cond.notify_all()

    @property
    def parties(self):
        """The number of threads required to trip the barrier."""
        return self._parties

    @property
    def n_waiting(self):
        """The number of threads currently waiting."""
        if self._state == 0:
            return self._count
        return 0

    @property
    def broken(self):
        """True if the barrier is broken."""
        return self._state == -2
