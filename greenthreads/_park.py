"""park / unpark: the one blocking primitive, and FIFO wait queues built on it.

A green thread that must wait creates a :class:`Waiter`, publishes it where a
waker will find it (a :class:`WaitQueue`, an fd interest, a timer) and calls
:func:`park`, which switches to the hub.  :func:`unpark` resolves the waiter
and puts its green thread back on the hub's ready queue.  A waiter is resolved
exactly once: woken, timed out, or cancelled by an exception thrown into the
parked green thread; whichever comes first wins and the others are no-ops.

Every suspension point loops until its own waiter is resolved, so a stray
switch into a parked green thread can never be mistaken for a wake-up.
"""

from collections import deque

from greenlet import getcurrent

from ._hub import get_hub, HubBlockingError, READ, WRITE, _real_get_ident

__all__ = ['Waiter', 'park', 'unpark', 'WaitQueue', 'sleep', 'yield_now', 'wait_fd',
           'PARKED', 'WOKEN', 'TIMED_OUT', 'CANCELLED']

PARKED, WOKEN, TIMED_OUT, CANCELLED = 0, 1, 2, 3


class Waiter:
    """One parked green thread: who waits, on what, and how the wait ended.

    ``reason`` is the object waited on (a lock, a thread being joined, ...),
    kept for deadlock reports.  ``value`` is what the waker passed to
    :func:`unpark`.
    """
    __slots__ = ('glet', 'hub', 'state', 'value', 'reason', 'queue')

    def __init__(self, reason=None, hub=None):
        self.glet = getcurrent()
        self.hub = hub if hub is not None else get_hub()
        self.state = PARKED
        self.value = None
        self.reason = reason
        self.queue = None

    def __repr__(self):
        state = ('parked', 'woken', 'timed out', 'cancelled')[self.state]
        return f'<Waiter {state} on {self.reason!r}>'


def _expire(waiter):
    # A timer callback, run in the hub.
    if waiter.state == PARKED:
        waiter.state = TIMED_OUT
        q = waiter.queue
        if q is not None:
            q._stale += 1
        waiter.hub.ready.append((waiter.glet.switch, None))


def park(waiter, timeout=None):
    """Suspend the current green thread until ``waiter`` is resolved.

    ``timeout`` is in seconds (None waits for ever).  Returns True if woken by
    :func:`unpark`, False if the timeout expired.  An exception thrown into the
    parked green thread (KeyboardInterrupt, a deadlock report) cancels the
    waiter and propagates; the caller must undo anything a racing waker did
    (check ``waiter.state == WOKEN`` in its exception handler).
    """
    hub = waiter.hub
    glet = waiter.glet
    if glet is hub.greenlet:
        raise HubBlockingError(
            'cannot block inside the greenthreads hub (a timer, I/O or '
            'signal callback tried to wait); hand the work to a thread instead')
    timer = hub.call_later(timeout, _expire, waiter) if timeout is not None else None
    try:
        switch = hub.greenlet.switch
        while waiter.state == PARKED:
            switch()
    except BaseException:
        if waiter.state == PARKED:
            waiter.state = CANCELLED
            q = waiter.queue
            if q is not None:
                q._stale += 1
        raise
    finally:
        if timer is not None:
            hub.cancel_timer(timer)
    return waiter.state == WOKEN


def unpark(waiter, value=None):
    """Resolve ``waiter`` as woken and make its green thread runnable.

    Returns True if this call woke it, False if it was already resolved.
    Safe from any OS thread: from a foreign one the wake-up is handed to the
    waiter's hub through its thread-safe entry.
    """
    hub = waiter.hub
    if hub.thread_ident != _real_get_ident():
        hub.call_threadsafe(_unpark_here, (waiter, value))
        return True
    if waiter.state:
        return False
    waiter.state = WOKEN
    waiter.value = value
    hub.ready.append((waiter.glet.switch, None))
    return True


def _unpark_here(args):
    unpark(*args)


class WaitQueue:
    """A FIFO of parked waiters: wake the longest-waiting first.

    Waiters that timed out or were cancelled stay in the deque until they
    reach the front (O(1) timeouts); they are compacted away in bulk if they
    pile up behind a waiter that is never woken.
    """
    __slots__ = ('_waiters', '_stale')

    def __init__(self):
        self._waiters = deque()
        self._stale = 0

    def __len__(self):
        """The number of waiters still parked."""
        return len(self._waiters) - self._stale

    def __bool__(self):
        return len(self._waiters) > self._stale

    def wait(self, timeout=None, reason=None):
        """Park the current green thread at the back of the queue.

        Returns the value passed to :meth:`wake_one` (True by default) if
        woken, False if ``timeout`` expired first.
        """
        waiter = Waiter(reason)
        waiter.queue = self
        waiters = self._waiters
        waiters.append(waiter)
        if self._stale > 64 and self._stale * 2 > len(waiters):
            self._compact()
        if park(waiter, timeout):
            return waiter.value
        return False

    def enqueue(self, waiter):
        """Add an already-built waiter (for primitives that park it themselves)."""
        waiter.queue = self
        self._waiters.append(waiter)

    def pop(self):
        """Remove and return the first waiter still parked, or None."""
        waiters = self._waiters
        while waiters:
            w = waiters.popleft()
            if w.state == PARKED:
                return w
            self._stale -= 1
        return None

    def wake_one(self, value=True):
        """Wake the longest-waiting parked waiter; return it, or None if there is none."""
        w = self.pop()
        if w is not None:
            unpark(w, value)
        return w

    def wake_all(self, value=True):
        """Wake every parked waiter, in FIFO order; return how many were woken."""
        n = 0
        waiters = self._waiters
        self._waiters = deque()
        self._stale = 0
        for w in waiters:
            if w.state == PARKED:
                unpark(w, value)
                n += 1
        return n

    def waiters(self):
        """The parked waiters, first to be woken first (a snapshot)."""
        return [w for w in self._waiters if w.state == PARKED]

    def _compact(self):
        self._waiters = deque(w for w in self._waiters if w.state == PARKED)
        self._stale = 0


def yield_now():
    """Let every other runnable green thread run once, then continue."""
    hub = get_hub()
    glet = getcurrent()
    if glet is hub.greenlet:
        raise HubBlockingError('cannot yield from inside the greenthreads hub')
    hub.ready.append((glet.switch, None))
    hub.greenlet.switch()


class _Sleep:
    """The reason recorded for a green thread in :func:`sleep`."""
    __slots__ = ('seconds',)

    def __init__(self, seconds):
        self.seconds = seconds

    def __repr__(self):
        return f'sleep({self.seconds})'


def sleep(seconds):
    """Block the current green thread for ``seconds``; ``sleep(0)`` just yields."""
    if seconds > 0:
        park(Waiter(_Sleep(seconds)), seconds)
    else:
        yield_now()


class _FdWait:
    __slots__ = ('fd', 'event')

    def __init__(self, fd, event):
        self.fd = fd
        self.event = event

    def __repr__(self):
        return f'fd {self.fd} to become {"readable" if self.event == READ else "writable"}'


def wait_fd(fd, event, timeout=None):
    """Park until ``fd`` is ready for ``event`` (READ or WRITE).

    Returns True when ready (or in error: the next I/O call reports it),
    False if ``timeout`` expired first.
    """
    waiter = Waiter(_FdWait(fd, event))
    hub = waiter.hub
    handle = hub.add_io(fd, event, unpark, waiter)
    try:
        return park(waiter, timeout)
    finally:
        if waiter.state != WOKEN:
            hub.remove_io(fd, handle)
