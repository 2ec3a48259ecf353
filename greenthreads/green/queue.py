"""Cooperative queues: ``queue.Queue`` (and its LIFO and priority kinds) and ``SimpleQueue``.

``Queue`` is a subclass of the stdlib's ``queue.Queue`` that keeps its whole
contract: ``maxsize``, the ``mutex`` and the three Conditions sharing it
(``not_empty``, ``not_full``, ``all_tasks_done``), ``unfinished_tasks``, a
writable ``queue``, the ``_init``/``_qsize``/``_put``/``_get`` hooks that
subclasses override, ``shutdown()`` where the stdlib has it, and
``isinstance`` with the stdlib class.  Its ``put``, ``get`` and
``task_done`` run the stdlib's algorithm (the same checks in the same order,
the same exceptions and messages) on state kept in the typed slots of a base
class the build compiles, with two shortcuts that change no outcome: the
stdlib's own deque hooks are done in place rather than called, and the lock
under our Condition is taken directly, a notify that would find nobody
waiting being skipped.  ``LifoQueue`` and ``PriorityQueue`` are the same
with the stdlib classes' hooks.

``SimpleQueue`` replaces the C class, whose ``get`` would block the OS thread.
"""

import queue as _std
import types
from collections import deque
from time import monotonic as _time

from _queue import SimpleQueue as _CSimpleQueue

from .._locks import Lock
from .._park import WaitQueue, PENDING
from .._sync import Condition

Empty = _std.Empty
Full = _std.Full
#: ``queue.ShutDown`` where the stdlib queues have ``shutdown()`` (3.13), else None.
ShutDown = getattr(_std, 'ShutDown', None)
_SHUTDOWN = ShutDown is not None

__all__ = ['Queue', 'LifoQueue', 'PriorityQueue', 'SimpleQueue', 'Empty', 'Full'] + \
    (['ShutDown'] if _SHUTDOWN else [])

_StdQueue = _std.Queue
# The stdlib hooks' deque calls, for an exact deque (nothing overrides its
# methods): called as they are, without looking the method up each time.
_append = deque.append
_popleft = deque.popleft

#: The state the stdlib keeps in instance attributes, kept in typed slots here.
_STATE = frozenset(('maxsize', 'queue', 'mutex', 'not_empty', 'not_full', 'all_tasks_done',
                    'unfinished_tasks'))


def _lock_of(cm):
    """The Lock under ``cm`` if ``cm`` is our Lock, or our Condition over one; else None."""
    if type(cm) is Condition:
        cm = cm._lock
    return cm if type(cm) is Lock else None


def _notify(cond, checked):
    """``cond.notify()``, by a caller holding the lock under ``checked``, our Condition over our Lock.

    When ``cond`` is ``checked`` and nobody waits on it, skipped: notify()
    would find the lock held and then no waiter, by the same lock-free hint.
    """
    if cond is checked:
        waiters: WaitQueue = cond._waiters
        if not waiters.entries:
            return
    cond.notify()


class _QueueCore:
    """The state and the compiled methods of :class:`Queue`.

    Set by ``Queue.__init__`` from the queue's class: ``_gt_typed``, the
    class shadows none of the state attributes (with a class attribute or a
    descriptor of its own), so these slots are where the queue's state is;
    else the stdlib's own methods run.  ``_gt_plain``: the class's
    ``_qsize``, ``_put`` and ``_get`` are the stdlib's deque ones, done in
    place.  ``_gt_lock``: the Lock under both ``_gt_not_full`` and
    ``_gt_not_empty``, our Conditions, or None (the stdlib's methods run);
    recomputed whenever ``not_full`` or ``not_empty`` is another object.
    """
    __slots__ = ('maxsize', 'queue', 'mutex', 'not_empty', 'not_full', 'all_tasks_done', 'unfinished_tasks',
                 '_gt_not_full', '_gt_not_empty')

    def put(self, item, block=True, timeout=None):
        """Put ``item`` into the queue (``queue.Queue.put``).

        If ``block`` is true and ``timeout`` None (the default), wait while
        the queue is full; with a non-negative ``timeout``, raise Full if no
        slot came free within that many seconds; with ``block`` false, raise
        Full at once if the queue is full (``timeout`` is ignored then).
        Raises ShutDown if the queue has been shut down.
        """
        lock: Lock = self._gt_lock
        if (lock is None or self.not_full is not self._gt_not_full
                or self.not_empty is not self._gt_not_empty):
            lock = self._gt_fast_lock()     # (the checks above are its fast path, inlined)
            if lock is None:
                return _StdQueue.put(self, item, block, timeout)
        lock.acquire()
        try:
            self._gt_put(item, block, timeout)
        finally:
            lock.release()

    def _gt_put(self, item, block, timeout):
        # queue.Queue.put's body, with the not_full lock held.
        if _SHUTDOWN and self.is_shutdown:
            raise ShutDown
        if self.maxsize > 0:
            if not block:
                if self._gt_qsize() >= self.maxsize:
                    raise Full
            elif timeout is None:
                while self._gt_qsize() >= self.maxsize:
                    self.not_full.wait()
                    if _SHUTDOWN and self.is_shutdown:
                        raise ShutDown
            elif timeout < 0:
                raise ValueError("'timeout' must be a non-negative number")
            else:
                endtime = _time() + timeout
                while self._gt_qsize() >= self.maxsize:
                    remaining = endtime - _time()
                    if remaining <= 0.0:
                        raise Full
                    self.not_full.wait(remaining)
                    if _SHUTDOWN and self.is_shutdown:
                        raise ShutDown
        if self._gt_plain:
            items = self.queue
            if type(items) is deque:
                _append(items, item)
            else:
                items.append(item)
        else:
            self._put(item)
        self.unfinished_tasks += 1
        _notify(self.not_empty, self._gt_not_empty)

    def get(self, block=True, timeout=None):
        """Remove and return an item from the queue (``queue.Queue.get``).

        If ``block`` is true and ``timeout`` None (the default), wait for an
        item; with a non-negative ``timeout``, raise Empty if none came
        within that many seconds; with ``block`` false, raise Empty at once
        if there is none (``timeout`` is ignored then).  Raises ShutDown if
        the queue has been shut down and is empty, or shut down immediately.
        """
        lock: Lock = self._gt_lock
        if (lock is None or self.not_full is not self._gt_not_full
                or self.not_empty is not self._gt_not_empty):
            lock = self._gt_fast_lock()     # (the checks above are its fast path, inlined)
            if lock is None:
                return _StdQueue.get(self, block, timeout)
        lock.acquire()
        try:
            return self._gt_get(block, timeout)
        finally:
            lock.release()

    def _gt_get(self, block, timeout):
        # queue.Queue.get's body, with the not_empty lock held.
        if _SHUTDOWN and self.is_shutdown and self._gt_empty():
            raise ShutDown
        if not block:
            if self._gt_empty():
                raise Empty
        elif timeout is None:
            while self._gt_empty():
                self.not_empty.wait()
                if _SHUTDOWN and self.is_shutdown and self._gt_empty():
                    raise ShutDown
        elif timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        else:
            endtime = _time() + timeout
            while self._gt_empty():
                remaining = endtime - _time()
                if remaining <= 0.0:
                    raise Empty
                self.not_empty.wait(remaining)
                if _SHUTDOWN and self.is_shutdown and self._gt_empty():
                    raise ShutDown
        if self._gt_plain:
            items = self.queue
            item = _popleft(items) if type(items) is deque else items.popleft()
        else:
            item = self._get()
        _notify(self.not_full, self._gt_not_full)
        return item

    def _gt_fast_lock(self):
        # The Lock put() and get() take (our Conditions' one), or None: use the stdlib's methods.
        if not self._gt_typed:
            return None
        not_full = self.not_full
        not_empty = self.not_empty
        if not_full is not self._gt_not_full or not_empty is not self._gt_not_empty:
            lock = _lock_of(not_full)
            if lock is not None and (type(not_empty) is not Condition or not_empty._lock is not lock):
                lock = None
            self._gt_lock = lock
            self._gt_not_full = not_full
            self._gt_not_empty = not_empty
        return self._gt_lock

    def _gt_qsize(self):
        return len(self.queue) if self._gt_plain else self._qsize()

    def _gt_empty(self):
        # not self._qsize(), without making an int of the length
        if self._gt_plain:
            return len(self.queue) == 0
        return not self._qsize()

    def __getstate__(self):
        # What copy and pickle take: the stdlib Queue's state, which is its
        # __dict__ (a copy shares the deque and the locks; pickling fails on
        # the locks).  A copy is not set up by __init__: it runs the stdlib's
        # methods.
        state = {name: value for name, value in vars(self).items() if not name.startswith('_gt_')}
        slots = {}
        for name in _STATE:
            try:
                slots[name] = getattr(self, name)
            except AttributeError:      # (pure Python) never set
                pass
        return state, slots

    def put_nowait(self, item):
        """Put ``item`` if a slot is free now, else raise Full."""
        return self.put(item, block=False)

    def get_nowait(self):
        """Remove and return an item if one is there now, else raise Empty."""
        return self.get(block=False)

    def task_done(self):
        """Mark one item taken by get() as processed (``queue.Queue.task_done``).

        When every item put has been marked, join() returns.  Raises
        ValueError if called more times than there were items.
        """
        lock: Lock = _lock_of(self.all_tasks_done) if self._gt_typed else None
        if lock is None:
            return _StdQueue.task_done(self)
        lock.acquire()
        try:
            unfinished = self.unfinished_tasks - 1
            if unfinished <= 0:
                if unfinished < 0:
                    raise ValueError('task_done() called too many times')
                self.all_tasks_done.notify_all()
            self.unfinished_tasks = unfinished
        finally:
            lock.release()


def _shadows_state(cls):
    """True if a class of ``cls`` before the core defines one of the state attributes itself."""
    for klass in cls.__mro__:
        if klass is _QueueCore:
            return False
        if not _STATE.isdisjoint(klass.__dict__):
            return True
    return False


_HOOKS = frozenset(('_qsize', '_put', '_get'))


def _plain_hooks(q):
    """True if ``q``'s ``_qsize``, ``_put`` and ``_get`` are the stdlib Queue's (a deque)."""
    cls = type(q)
    return (cls._qsize is _StdQueue._qsize and cls._put is _StdQueue._put
            and cls._get is _StdQueue._get and _HOOKS.isdisjoint(vars(q)))


class Queue(_QueueCore, _StdQueue):
    """``queue.Queue``: a FIFO queue, with the stdlib class's attributes and hooks.

    Made with the green Lock and Conditions whether or not ``threading`` is
    patched.  Subclasses that override the hooks run the same algorithm,
    calling them; subclasses that shadow the state, or queues whose
    Conditions are not ours over one Lock, run the stdlib's methods.
    Whether the hooks are the stdlib's own is read when the queue is made
    and whenever one is set or deleted on the instance (``mock.patch.object(q,
    '_put')``); a hook replaced on the class itself after queues of it were
    made is not seen by those queues.
    """

    # What the compiled core reads until __init__ has run (a subclass that
    # never calls it gets the stdlib's methods).  Compiled, the core has
    # fields of these names that Python cannot see; in pure Python these
    # are the defaults of the instance attributes.
    _gt_typed = _gt_plain = False
    _gt_lock = None

    def __init__(self, maxsize=0):
        super().__init__(maxsize)
        if type(self.mutex) is not Lock:
            # threading is not patched: the stdlib made OS-thread primitives.
            self.mutex = Lock()
            self.not_empty = Condition(self.mutex)
            self.not_full = Condition(self.mutex)
            self.all_tasks_done = Condition(self.mutex)
        cls = type(self)
        core: _QueueCore = self
        core._gt_not_full = core._gt_not_empty = core._gt_lock = None
        core._gt_plain = _plain_hooks(self)
        core._gt_typed = not _shadows_state(cls)

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name in _HOOKS:
            core: _QueueCore = self
            core._gt_plain = _plain_hooks(self)

    def __delattr__(self, name):
        super().__delattr__(name)
        if name in _HOOKS:
            core: _QueueCore = self
            core._gt_plain = _plain_hooks(self)


class LifoQueue(Queue, _std.LifoQueue):
    """``queue.LifoQueue``: the last item put is the first got."""


class PriorityQueue(Queue, _std.PriorityQueue):
    """``queue.PriorityQueue``: the lowest item (``sorted``'s first) is got first."""


_EMPTY = object()     # what a timed-out get returns inside

# Ints and floats in here are valid get() timeouts on every Python: no probe.
_PLAIN_TIMEOUT_MAX = 9e9   # seconds; the C limit is 2**63 ns (~9.22e9 s)


def _checked_timeout(timeout):
    """``timeout`` in seconds, or raise what ``queue.SimpleQueue.get(True, timeout)`` raises.

    The C queue does the validating (types, NaN, range, sign: its own
    messages), on a new one holding an item, so that it returns at once.
    """
    probe = _CSimpleQueue()
    probe.put(None)
    probe.get(True, timeout)
    return float(timeout)


class SimpleQueue:
    """Unbounded FIFO queue; ``get`` parks only the calling green thread.

    Same API as ``queue.SimpleQueue``: ``put`` never blocks (its ``block`` and
    ``timeout`` arguments are accepted and ignored, as there), ``get`` takes
    ``block``/``timeout`` and raises ``queue.Empty``.  An item put while
    threads wait is handed straight to the longest-waiting one.
    """

    def __init__(self):
        self._items = deque()
        self._getters = WaitQueue()

    def put(self, item, block=True, timeout=None):
        """Put ``item`` on the queue (never blocks)."""
        q = self._getters
        if q.entries:
            with q.mutex:
                if q.claim_next(item) is not None:
                    return
        self._items.append(item)

    def put_nowait(self, item):
        """Same as ``put(item)``."""
        self.put(item)

    def get(self, block=True, timeout=None):
        """Remove and return an item, waiting (up to ``timeout``) if ``block`` and empty."""
        if timeout is not None and block:
            # Validated first, even when an item is there, as the stdlib does.
            if (timeout.__class__ is not float and timeout.__class__ is not int) \
                    or not 0 <= timeout <= _PLAIN_TIMEOUT_MAX:
                timeout = _checked_timeout(timeout)
        items = self._items
        if items:
            return items.popleft()
        if not block or timeout == 0:
            raise Empty
        # A putter hands its item straight to a waiter; if an exception
        # arrives with it, undo keeps it queued, first in line.
        item = self._getters.wait(_simple_queue_retry, timeout, self, items.appendleft, _EMPTY)
        if item is _EMPTY:
            raise Empty
        return item

    def _retry(self):
        items = self._items
        return items.popleft() if items else PENDING   # put meanwhile (from another OS thread)

    def get_nowait(self):
        """Same as ``get(False)``."""
        return self.get(False)

    def empty(self):
        """True if the queue is empty (not reliable across threads, as in the stdlib)."""
        return not self._items

    def qsize(self):
        """The approximate size of the queue."""
        return len(self._items)

    __class_getitem__ = classmethod(types.GenericAlias)


# wait()'s retry as a plain function of the queue (no bound method per wait).
_simple_queue_retry = SimpleQueue._retry
