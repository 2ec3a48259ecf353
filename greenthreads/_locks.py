"""Lock and RLock for green threads.

Contract (shared by both):

* Switch only when blocking: an uncontended acquire, a failed non-blocking
  acquire and a release never switch green threads.
* FIFO handoff: ``release()`` with waiters passes ownership straight to the
  longest-waiting one, so the lock is never observed free while anyone waits
  and a thread that releases and re-acquires queues behind the waiters.
* Arguments are validated exactly as ``_thread.lock.acquire`` validates them
  (same exception types and messages on every Python version).
"""

import _thread

from greenlet import getcurrent

from ._hub import ident_of
from ._park import Waiter, WaitQueue, park, unpark, WOKEN

__all__ = ['Lock', 'RLock', 'check_acquire_args']

_probe_lock = _thread.allocate_lock()


def check_acquire_args(blocking, timeout):
    """Validate ``acquire(blocking, timeout)`` arguments like ``_thread.lock``.

    Returns the timeout in seconds as a float, or None for "wait for ever".
    The real C lock does the validating, so messages match the running Python.
    """
    if timeout == -1:
        return None
    # The probe lock is always free: acquiring it cannot block, only raise.
    if _probe_lock.acquire(blocking, timeout):
        _probe_lock.release()
    if timeout == -1:  # e.g. -1.0
        return None
    return float(timeout)


class Lock:
    """A primitive lock owned by no particular green thread.

    ``release()`` may be called from any green thread, as with ``_thread.lock``.
    """
    __slots__ = ('_locked', '_waiters', '__weakref__')

    def __init__(self):
        self._locked = False
        self._waiters = WaitQueue()

    def acquire(self, blocking=True, timeout=-1):
        """Acquire the lock; return True on success, False if not acquired.

        Blocks (up to ``timeout`` seconds, -1 meaning no limit) only when
        ``blocking`` is true and the lock is held.
        """
        if timeout != -1:
            timeout = check_acquire_args(blocking, timeout)
        else:
            timeout = None
        if not self._locked:
            self._locked = True
            return True
        if not blocking:
            return False
        return self._wait(timeout)

    def _wait(self, timeout):
        waiter = Waiter(self)
        self._waiters.enqueue(waiter)
        try:
            return park(waiter, timeout)
        except BaseException:
            if waiter.state == WOKEN:  # ownership arrived with the exception
                self.release()
            raise

    def __enter__(self):
        return self.acquire()

    def release(self):
        """Release the lock, handing it to the longest waiter if there is one."""
        if not self._locked:
            raise RuntimeError('release unlocked lock')
        waiter = self._waiters.pop()
        if waiter is None:
            self._locked = False
        else:
            unpark(waiter, True)  # the lock stays locked: it is the waiter's now

    def __exit__(self, t, v, tb):
        self.release()

    def locked(self):
        """Return True if the lock is held."""
        return self._locked

    # Old _thread spellings, still present on _thread.lock.
    acquire_lock = acquire
    release_lock = release
    locked_lock = locked

    def _at_fork_reinit(self):
        self._locked = False
        self._waiters = WaitQueue()

    def __repr__(self):
        return '<%s %s.%s object at %s>' % (
            'locked' if self._locked else 'unlocked',
            self.__class__.__module__.replace('._locks', ''),
            self.__class__.__qualname__, hex(id(self)))


class RLock:
    """A reentrant lock: the owning green thread may acquire it again.

    Owner and recursion count live in one tuple that is replaced in a single
    assignment, so a GC callback or signal handler that takes the same lock in
    the middle of ``acquire``/``release`` sees either the state before or the
    state after, never a half-updated one; its balanced acquire/release pair
    then restores exactly what it saw.
    """
    __slots__ = ('_state', '_waiters', '__weakref__')

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            # CPython 3.13 deprecates arguments; before that C RLock ignored them.
            import sys
            import warnings
            if sys.version_info >= (3, 13):
                warnings.warn('Passing arguments to RLock is deprecated and will be removed in 3.15',
                              DeprecationWarning, stacklevel=2)
        self._state = (None, 0)
        self._waiters = WaitQueue()

    def acquire(self, blocking=True, timeout=-1):
        """Acquire the lock, or bump the recursion level if already owned.

        Returns True on success (also when re-entering), False if not acquired.
        """
        if timeout != -1:
            timeout = check_acquire_args(blocking, timeout)
        else:
            timeout = None
        me = getcurrent()
        owner, count = self._state
        if owner is me:
            self._state = (me, count + 1)
            return True
        if owner is None:
            self._state = (me, 1)
            return True
        if not blocking:
            return False
        return self._wait(me, 1, timeout)

    def _wait(self, me, count, timeout):
        waiter = Waiter(self)
        self._waiters.enqueue(waiter)
        try:
            got = park(waiter, timeout)
        except BaseException:
            if waiter.state == WOKEN:
                self._release_all()
            raise
        if got and count != 1:
            self._state = (me, count)
        return got

    __enter__ = acquire

    def release(self):
        """Drop one recursion level; the last one releases the lock."""
        me = getcurrent()
        owner, count = self._state
        if owner is not me:
            raise RuntimeError('cannot release un-acquired lock')
        if count > 1:
            self._state = (me, count - 1)
        else:
            self._release_all()

    def _release_all(self):
        waiter = self._waiters.pop()
        if waiter is None:
            self._state = (None, 0)
        else:
            # Wake first, publish second: a re-entrant call in between still
            # sees us as owner.
            unpark(waiter, True)
            self._state = (waiter.glet, 1)

    def __exit__(self, t, v, tb):
        self.release()

    def locked(self):
        """Return True if the lock is held by any green thread."""
        return self._state[0] is not None

    # -- the protocol Condition uses (same names as CPython's RLock)
    def _is_owned(self):
        return self._state[0] is getcurrent()

    def _release_save(self):
        me = getcurrent()
        owner, count = self._state
        if owner is not me:
            raise RuntimeError('cannot release un-acquired lock')
        self._release_all()
        return (count, ident_of(me))

    def _acquire_restore(self, state):
        count = state[0]
        me = getcurrent()
        owner = self._state[0]
        if owner is None:
            self._state = (me, count)
        else:
            self._wait(me, count, None)

    def _recursion_count(self):
        owner, count = self._state
        return count if owner is getcurrent() else 0

    def _at_fork_reinit(self):
        self._state = (None, 0)
        self._waiters = WaitQueue()

    def __repr__(self):
        owner, count = self._state
        return '<%s %s.%s object owner=%r count=%d at %s>' % (
            'locked' if owner is not None else 'unlocked',
            self.__class__.__module__.replace('._locks', ''),
            self.__class__.__qualname__, ident_of(owner), count, hex(id(self)))
