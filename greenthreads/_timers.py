"""The timer heap: callbacks due at ``time.monotonic()`` deadlines.

Arming is O(log n).  Cancelling is O(1): the :class:`Timer` is marked dead
and stays in the heap; once dead entries make up most of the heap they are
swept out in one pass, at the cancel that tips the balance, so a green
thread that arms and cancels without ever letting the hub run cannot grow
the heap either.  The hub runs what is due (:meth:`TimerHeap.run_due`) and
sleeps until :meth:`TimerHeap.next_deadline`.
"""

import heapq
import itertools
from time import monotonic as _monotonic

__all__ = ['Timer', 'TimerHeap']

_heappush = heapq.heappush
_heappop = heapq.heappop

# Compact once more than this many cancelled timers (and more than the live
# ones) sit in the heap.
_COMPACT_AFTER = 256


class Timer:
    """``callback(arg)``, due at ``deadline``; once fired or cancelled ``callback`` is None."""
    __slots__ = ('deadline', 'callback', 'arg')

    def __init__(self, deadline, callback, arg):
        self.deadline = deadline
        self.callback = callback
        self.arg = arg

    def __repr__(self):
        state = 'done' if self.callback is None else f'{self.callback!r}({self.arg!r})'
        return f'<Timer at {self.deadline:.6f}: {state}>'


class TimerHeap:
    """A heap of :class:`Timer` entries ordered by deadline, then by arming order.

    ``heap`` is the list itself, true while any entry (live or dead) is in
    it: a cheap check for the hub loop.  Same-OS-thread use only.
    """
    __slots__ = ('heap', '_dead', '_seq')

    def __init__(self):
        self.heap = []           # (deadline, seq, Timer): seq keeps Timers from being compared
        self._dead = 0           # cancelled entries still in the heap
        self._seq = itertools.count().__next__

    def __len__(self):
        """The number of timers armed and not yet fired or cancelled."""
        return len(self.heap) - self._dead

    def arm(self, delay, callback, arg=None):
        """Run ``callback(arg)`` ``delay`` seconds from now; returns the Timer, for :meth:`cancel`."""
        deadline = _monotonic() + delay
        timer = Timer(deadline, callback, arg)
        _heappush(self.heap, (deadline, self._seq(), timer))
        return timer

    def cancel(self, timer):
        """Make ``timer`` never fire; one that fired or was cancelled already is left alone."""
        if timer.callback is not None:
            timer.callback = timer.arg = None
            self._dead += 1
            if self._dead > _COMPACT_AFTER and self._dead * 2 > len(self.heap):
                self._compact()

    def next_deadline(self):
        """The earliest deadline in the heap (maybe a dead entry's: an early look costs nothing), or None."""
        heap = self.heap
        return heap[0][0] if heap else None

    def run_due(self, now):
        """Fire, in deadline order, every live timer due at ``now``."""
        heap = self.heap
        while heap and heap[0][0] <= now:
            timer = _heappop(heap)[2]
            callback = timer.callback
            if callback is None:
                self._dead -= 1
                continue
            arg = timer.arg
            timer.callback = timer.arg = None
            callback(arg)

    def find(self, arg):
        """The live timer armed with ``arg``, or None (a linear search: for rare paths)."""
        for _, _, timer in self.heap:
            if timer.arg is arg and timer.callback is not None:
                return timer
        return None

    def clear(self):
        """Forget every timer (after a fork: none of them may fire in the child)."""
        self.heap.clear()
        self._dead = 0

    def _compact(self):
        # In place: run_due may be iterating over this very list when a timer
        # callback cancels another timer.
        live = [entry for entry in self.heap if entry[2].callback is not None]
        heapq.heapify(live)
        self.heap[:] = live
        self._dead = 0
