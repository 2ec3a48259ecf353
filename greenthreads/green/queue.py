"""A cooperative ``queue.SimpleQueue``.

Only the C-implemented class needs a replacement: ``queue.Queue``,
``LifoQueue`` and ``PriorityQueue`` are pure Python on ``threading``'s
primitives and stay the stdlib classes (their ``mutex``, ``not_empty``,
``all_tasks_done`` and ``queue`` attributes keep working) once ``threading``
is green.
"""

import types
from collections import deque
from queue import Empty

from _queue import SimpleQueue as _CSimpleQueue

from .._park import WaitQueue, PENDING

_EMPTY = object()     # what a timed-out get returns inside

__all__ = ['SimpleQueue', 'Empty']

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
        item = self._getters.wait(self._retry, timeout, self, items.appendleft, _EMPTY)
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
