"""Lock and RLock for green threads, safe to share with real OS threads.

Contract (shared by both):

* Switch only when blocking: an uncontended acquire, a failed non-blocking
  acquire and a release never switch green threads.
* FIFO handoff: ``release()`` with waiters passes ownership straight to the
  longest-waiting one, so the lock is never observed free while anyone waits
  and a thread that releases and re-acquires queues behind the waiters.
* Arguments are validated exactly as ``_thread.lock.acquire`` validates them
  (same exception types and messages on every Python version).

Atomicity: the free -> held transition is a single C-level operation (a real
lock's non-blocking acquire for Lock, ``dict.setdefault`` for RLock), so two
OS threads cannot both win it, and a GC callback or signal handler that runs
Python code in the middle of acquire/release sees a consistent state.  A
waiter enqueues itself and then retries under the queue's mutex; a releaser
that finds waiters after freeing the lock re-takes it and hands it over under
the same mutex: no wake-up is lost between the two.
"""

import warnings
import _thread

from greenlet import getcurrent

from ._compat import RLOCK_ARGS_DEPRECATED
from ._hub import ident_of
from ._originals import real_get_ident as _real_get_ident
from ._park import WaitQueue, PENDING, deliver

__all__ = ['Lock', 'RLock', 'check_acquire_args', 'lazy_queue', 'watch']

_new_probe = _thread.allocate_lock
_create_lock = _thread.allocate_lock()

#: The default timeout, the very object: ``timeout is _NO_TIMEOUT`` holds for
#: the default and a literal -1 (small ints are cached), and is the cheapest
#: test; anything else (-1.0, Decimal(-1)) is merely validated.
_NO_TIMEOUT = -1

_BASETYPE = 1 << 10     # Py_TPFLAGS_BASETYPE: a type Python code may subclass

#: What a free Lock's set holds (see Lock).
_TOKEN = True

# The lock-order checker's hooks while it runs (see watch()), else None.
_watch = None


def watch(hooks):
    """Report every Lock and RLock taken and let go to ``hooks`` (None: stop).

    ``hooks.took(lock, blocking, give_back)`` runs once a green thread has
    taken a lock (an RLock: its first level), ``hooks.gave(lock)`` as a lock
    is let go (an RLock: its last level), ``hooks.check(lock)`` before a
    thread waits for a held one.  ``check`` and ``took`` may raise: ``took``
    then lets the lock go first if ``give_back``.  (``debug.check_lock_order``
    installs these; while none are, the fast paths pay one test of a C
    global, compiled.)
    """
    global _watch
    _watch = hooks


def lazy_queue(obj, attr='_waiters'):
    """``obj.<attr>``, a WaitQueue created on first need (most locks are never contended)."""
    q = getattr(obj, attr)
    if q is None:
        with _create_lock:  # two OS threads must not each install a queue
            q = getattr(obj, attr)
            if q is None:
                q = WaitQueue()
                setattr(obj, attr, q)
    return q


def check_acquire_args(blocking, timeout):
    """Validate ``acquire(blocking, timeout)`` arguments like ``_thread.lock``.

    Returns the timeout in seconds as a float, or None for "wait for ever".
    Raises what ``_thread.lock.acquire(blocking, timeout)`` raises: a real C
    lock does the validating, so which arguments are accepted (``blocking``
    must be an integer before 3.12, any object's truth value since) and the
    exception types and messages follow the running Python.
    """
    # A new lock each time, so it is free: acquiring it cannot block, only
    # raise.  (A shared one could be held by another OS thread's check, or by
    # this thread's, interrupted by a signal handler that checks too.)
    _new_probe().acquire(blocking, timeout)
    if timeout == -1:  # also -1.0
        return None
    return float(timeout)


class Lock:
    """A primitive lock owned by no particular green thread.

    ``release()`` may be called from any green thread (or OS thread), as with
    ``_thread.lock``.  The state is a set that holds one token while the lock
    is free and none while it is held: taking the token (``set.pop``) is the
    atomic free -> held step, and putting it back (``set.add``) can never make
    two of them.
    """
    __slots__ = ('_free', '_waiters', '__weakref__')

    def __init__(self):
        self._free = {_TOKEN}
        self._waiters = None

    def acquire(self, blocking=True, timeout=-1):
        """Acquire the lock; return True on success, False if not acquired.

        Blocks (up to ``timeout`` seconds, -1 meaning no limit) only when
        ``blocking`` is true and the lock is held.  Bad arguments raise what
        ``_thread.lock.acquire`` raises, whether or not the lock is free.
        """
        if timeout is not _NO_TIMEOUT or not (blocking is True or blocking is False):
            timeout = check_acquire_args(blocking, timeout)
        free = self._free             # _take(), inlined: the hot half of every with-block
        if free:
            try:
                free.pop()
            except KeyError:            # taken since the line above, by another OS thread
                pass
            else:
                if _watch is not None:
                    _watch.took(self, blocking, True)
                return True
        if not blocking or timeout == 0:
            return False
        if _watch is not None:
            _watch.check(self)
        # Woken means the releaser handed the lock over: undo gives it back.
        got = lazy_queue(self).wait(_lock_retry, None if timeout is _NO_TIMEOUT else timeout,
                                    self, self._undo)
        if got and _watch is not None:
            _watch.took(self, True, True)
        return got

    def _take(self):
        """Free -> held, if free; True if this call took the lock."""
        free = self._free
        if not free:
            return False
        try:
            free.pop()
        except KeyError:    # taken since the line above, by another OS thread
            return False
        return True

    def _give(self):
        """Held -> free."""
        free = self._free
        if free:
            raise RuntimeError('release unlocked lock')
        free.add(_TOKEN)

    def _retry(self):
        # (wait()'s retry, called with the lock as the reason)
        return True if self._take() else PENDING

    def _undo(self, value):
        self.release()

    __enter__ = acquire

    def release(self):
        """Release the lock, handing it to the longest waiter if there is one."""
        if _watch is not None:
            _watch.gave(self)
        q = self._waiters
        if q is not None and q.entries:
            with q.mutex:
                # The lock stays held: a claimed waiter owns it now.
                if q.claim_next() is None:
                    self._give()
            return
        self._give()
        # Read again: another OS thread may have made the queue, joined it and
        # failed its retry since the first read (then nobody else wakes it).
        q = self._waiters
        if q is not None and q.entries:
            self._rescue(q)

    def _rescue(self, q):
        # A waiter enqueued (in another OS thread) while we were releasing:
        # take the lock back for it, unless someone else already has.
        with q.mutex:
            if q and self._take() and q.claim_next() is None:
                self._give()

    def __exit__(self, t, v, tb):
        # release(), inlined: the other hot half.
        q = self._waiters
        if q is not None and q.entries:
            self.release()
            return
        if _watch is not None:
            _watch.gave(self)
        free = self._free             # _give(), inlined
        if free:
            raise RuntimeError('release unlocked lock')
        free.add(_TOKEN)
        q = self._waiters             # read again, as in release()
        if q is not None and q.entries:
            self._rescue(q)

    def locked(self):
        """Return True if the lock is held."""
        return not self._free

    # Old _thread spellings, still present on _thread.lock.
    acquire_lock = acquire
    release_lock = release
    locked_lock = locked

    def _at_fork_reinit(self):
        # In place: a Condition on this lock keeps a view of ``_free``.
        self._free.add(_TOKEN)
        self._waiters = None

    def __reduce_ex__(self, protocol):
        _cannot_pickle(self)

    def __repr__(self):
        return '<%s %s object at %s>' % (
            'unlocked' if self._free else 'locked', _type_name(self), hex(id(self)))


def _type_name(obj):
    """``module.qualname`` of ``obj``'s class, this package's own types by their public name.

    (Compiled, Lock and RLock are immutable types that keep the name of the
    module they are defined in.)
    """
    cls = obj.__class__
    module = cls.__module__
    if module.startswith(_PACKAGE + '._'):
        module = _PACKAGE
    return f"{module}.{cls.__qualname__}"


_PACKAGE = __name__.rpartition('.')[0]


def _cannot_pickle(lock):
    # As the C locks: a lock's state means nothing in another process.
    raise TypeError(f"cannot pickle '{_type_name(lock)}' object")


def _not_a_base_type(cls, **kwargs):
    raise TypeError(f"type '{Lock.__module__}.{Lock.__qualname__}' is not an acceptable base type")


# As threading.Lock: a factory function before 3.13, a final type since.  (The
# compiled Lock is a final type; the Python class refuses subclasses itself.)
if Lock.__flags__ & _BASETYPE:
    Lock.__init_subclass__ = classmethod(_not_a_base_type)


def _handoff(cell, waiter, owner):
    """Make a claimed waiter the RLock's owner and wake it, in the safe order.

    Same OS thread: wake first (it cannot run before we return to the hub),
    so re-entrant code that runs after the store and waits for the new owner
    finds it runnable.  Another OS thread: store first, so the waiter never
    runs before it owns the lock.
    """
    if waiter.hub.thread_ident == _real_get_ident():
        deliver(waiter)
        cell[0] = owner
    else:
        cell[0] = owner
        deliver(waiter)


# wait()'s retry as a plain function of the lock (no bound method per wait).
_lock_retry = Lock._retry


class RLock:
    """A reentrant lock: the owning green thread may acquire it again.

    The whole state is one ``(owner greenlet, count)`` tuple in a one-slot
    dict: taking a free lock is ``dict.setdefault`` (atomic), every other
    change is a single store made by the owner.  A re-entrant call from a GC
    callback or signal handler in the middle of acquire/release therefore sees
    the state from before or after, never a half-made one, and its balanced
    acquire/release pair restores exactly what it saw.
    """
    __slots__ = ('_cell', '_waiters', '__weakref__')

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            if RLOCK_ARGS_DEPRECATED:
                warnings.warn('Passing arguments to RLock is deprecated and will be removed in 3.15',
                              DeprecationWarning, stacklevel=2)
        self._cell = {}          # {0: (owner, count)} while held, {} while free
        self._waiters = None

    def acquire(self, blocking=True, timeout=-1):
        """Acquire the lock, or bump the recursion level if already owned.

        Returns True on success (also when re-entering), False if not acquired.
        Bad arguments raise what ``_thread.RLock.acquire`` raises, whoever
        holds the lock.
        """
        if timeout is not _NO_TIMEOUT or not (blocking is True or blocking is False):
            timeout = check_acquire_args(blocking, timeout)
        me = getcurrent()
        cell = self._cell
        mine = (me, 1)
        state = cell.setdefault(0, mine)     # takes the lock if it is free
        if state is mine:
            if _watch is not None:
                _watch.took(self, blocking, True)
            return True
        if state[0] is me:
            cell[0] = (me, state[1] + 1)
            return True
        if not blocking or timeout == 0:
            return False
        if _watch is not None:
            _watch.check(self)
        got = self._wait(me, mine, None if timeout is _NO_TIMEOUT else timeout)
        if got and _watch is not None:
            _watch.took(self, True, True)
        return got

    def _wait(self, me, mine, timeout):
        # Woken means the releaser made us the owner (count 1): undo releases.
        got = lazy_queue(self).wait(
            lambda _: True if self._cell.setdefault(0, mine) is mine else PENDING,
            timeout, self, lambda value: self._release_all(me))
        if got and mine[1] != 1:
            self._cell[0] = mine   # restore a saved recursion level
        return got

    __enter__ = acquire

    def release(self):
        """Drop one recursion level; the last one releases the lock."""
        me = getcurrent()
        state = self._cell.get(0)
        if state is None or state[0] is not me:
            raise RuntimeError('cannot release un-acquired lock')
        if state[1] > 1:
            self._cell[0] = (me, state[1] - 1)
        else:
            if _watch is not None:
                _watch.gave(self)
            self._release_all(me)

    def _release_all(self, me):
        cell = self._cell
        q = self._waiters
        if q is not None and q.entries:
            with q.mutex:
                waiter = q.claim_next(True, deliver_now=False)
                if waiter is None:
                    del cell[0]
                else:
                    _handoff(cell, waiter, (waiter.glet, 1))
            return
        del cell[0]
        q = self._waiters     # read again, as in Lock.release()
        if q is not None and q.entries:
            self._rescue(q)

    def _rescue(self, q):
        # A waiter enqueued (in another OS thread) while we were releasing.
        with q.mutex:
            waiter = q.first_parked()
            if waiter is None:
                return
            owner = (waiter.glet, 1)
            if self._cell.setdefault(0, owner) is owner:   # nobody took it first
                q.claim(waiter)

    def __exit__(self, t, v, tb):
        # release(), inlined for the uncontended case.
        me = getcurrent()
        cell = self._cell
        state = cell.get(0)
        if state is None or state[0] is not me:
            raise RuntimeError('cannot release un-acquired lock')
        if state[1] > 1:
            cell[0] = (me, state[1] - 1)
            return
        if _watch is not None:
            _watch.gave(self)
        q = self._waiters
        if q is None:
            del cell[0]
            q = self._waiters     # read again, as in Lock.release()
            if q is not None and q.entries:
                self._rescue(q)
        else:
            self._release_all(me)

    def locked(self):
        """Return True if the lock is held by any green thread."""
        return 0 in self._cell

    # -- the protocol Condition uses (same names as CPython's RLock)
    def _is_owned(self):
        state = self._cell.get(0)
        return state is not None and state[0] is getcurrent()

    def _release_save(self):
        me = getcurrent()
        state = self._cell.get(0)
        if state is None or state[0] is not me:
            raise RuntimeError('cannot release un-acquired lock')
        if _watch is not None:
            _watch.gave(self)
        self._release_all(me)
        return (state[1], ident_of(me))

    def _acquire_restore(self, saved):
        me = getcurrent()
        mine = (me, saved[0])
        if self._cell.setdefault(0, mine) is not mine:
            self._wait(me, mine, None)
        if _watch is not None:
            _watch.took(self, True, False)   # (Condition.wait must return holding it)

    def _recursion_count(self):
        state = self._cell.get(0)
        return state[1] if state is not None and state[0] is getcurrent() else 0

    def _at_fork_reinit(self):
        self._cell = {}
        self._waiters = None

    def __reduce_ex__(self, protocol):
        _cannot_pickle(self)

    def __repr__(self):
        owner, count = self._cell.get(0, (None, 0))
        return '<%s %s object owner=%r count=%d at %s>' % (
            'locked' if owner is not None else 'unlocked', _type_name(self), ident_of(owner), count, hex(id(self)))
