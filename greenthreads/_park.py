"""park / unpark: the one blocking primitive, and FIFO wait queues built on it.

A green thread that must wait creates a :class:`Waiter`, publishes it where a
waker will find it (a :class:`WaitQueue`, an fd interest, a timer) and calls
:func:`park`, which switches to the hub.  A waker *claims* the waiter (decides
its fate) and then *delivers* the wake-up to the waiter's hub.  A waiter is
resolved exactly once: woken, timed out, or cancelled by an exception thrown
into the parked green thread; whichever claims first wins, the rest are no-ops.

Cross-OS-thread rule: every claim on a waiter that sits in a WaitQueue is made
while holding that queue's ``mutex``, so a release from a real OS thread and a
timeout in the waiter's own hub cannot both win.  The mutex is a real
*reentrant* lock held for a few steps: it only has to keep other OS threads
out (green threads of one OS thread never preempt each other), and being
reentrant it lets a GC callback or signal handler that runs in the middle of
a section use the same primitive instead of deadlocking on it.  Delivery to
a hub in another OS thread goes through its thread-safe entry.

Every suspension point loops until its own waiter is resolved, so a stray
switch into a parked green thread can never be mistaken for a wake-up.
"""

from collections import deque
from operator import index as _index

from greenlet import getcurrent, greenlet as _greenlet

from ._hub import get_hub, Hub, HubBlockingError, hub_of_main, peek_hub, tls as _tls
from ._poller import READ
from ._originals import real_get_ident as _real_get_ident, real_rlock as _real_rlock, \
    real_sleep as _real_sleep

__all__ = ['Waiter', 'park', 'unpark', 'deliver', 'WaitQueue', 'PENDING', 'YIELD', 'sleep', 'yield_now', 'wait_fd',
           'io_ready', 'call_in_main', 'waiter_of', 'cancel_after_fork', 'PARKED', 'WOKEN', 'TIMED_OUT', 'CANCELLED']

PARKED, WOKEN, TIMED_OUT, CANCELLED = 0, 1, 2, 3

_NO_ARGUMENT = object()

#: What yield_now() passes when it switches to the hub (which ignores it;
#: a retired hub, see _final, does not).
YIELD = ('yield',)

#: The callable of every "resume this green thread" entry on a hub's ready
#: queue, ``(RESUME, glet)``: greenlet's own ``switch``, called unbound, so no
#: bound method is made per wake-up.  A green thread about to park may switch
#: straight to such an entry (one switch instead of two through the hub),
#: within the hub's budget.
RESUME = _greenlet.switch


class Waiter:
    """One parked green thread: who waits, on what, and how the wait ended.

    ``reason`` is the object waited on (a lock, a thread being joined, ...),
    kept for deadlock reports.  ``value`` is what the waker passed along.
    ``queue`` is the WaitQueue it sits in, if any (its mutex guards claims).
    """
    __slots__ = ('glet', 'hub', 'state', 'value', 'reason', 'queue')

    def __init__(self, reason=None, hub=None):
        self.glet = getcurrent()
        if hub is None:
            try:
                hub = _tls.hub
            except AttributeError:
                hub = get_hub()
        self.hub = hub
        self.state = PARKED
        self.value = None
        self.reason = reason
        self.queue = None

    def __repr__(self):
        state = ('parked', 'woken', 'timed out', 'cancelled')[self.state]
        return f'<Waiter {state} on {self.reason!r}>'


def deliver(waiter: Waiter):
    """Make a claimed waiter's green thread runnable (from any OS thread)."""
    hub: Hub = waiter.hub
    if hub.thread_ident == _real_get_ident():
        hub.ready.append((RESUME, waiter.glet))
    else:
        hub.call_threadsafe(RESUME, waiter.glet)


def _claim(waiter: Waiter, state):
    """Resolve a PARKED waiter to ``state``; True if this call did it."""
    q = waiter.queue
    if q is None:
        if waiter.state:
            return False
        waiter.state = state
        return True
    with q.mutex:
        if waiter.state:
            return False
        waiter.state = state
        q._stale += 1
        return True


def _expire(waiter: Waiter):
    # A timer callback, run in the waiter's own hub.
    if _claim(waiter, TIMED_OUT):
        waiter.hub.ready.append((RESUME, waiter.glet))


def park(waiter: Waiter, timeout=None):
    """Suspend the current green thread until ``waiter`` is resolved.

    ``timeout`` is in seconds (None waits for ever).  Returns True if woken,
    False if the timeout expired.  An exception thrown into the parked green
    thread (KeyboardInterrupt, a deadlock report) cancels the waiter and
    propagates; if a waker claimed it first the caller must undo what the
    waker handed over (check ``waiter.state == WOKEN`` in its handler).
    """
    hub: Hub = waiter.hub
    if waiter.glet is hub.greenlet:
        raise HubBlockingError(
            'cannot block inside the greenthreads hub (a timer, I/O or '
            'signal callback tried to wait); hand the work to a thread instead')
    timer = hub.timers.arm(timeout, _expire, waiter) if timeout is not None else None
    glet = waiter.glet
    # (main_glet changes only in a forked child, where no parked thread resumes.)
    is_main = glet is hub.main_glet
    # What waiter_of() reports: a Runner has a slot for it, a main green thread the hub's.
    if is_main:
        hub.main_waiter = waiter
    else:
        glet.waiter = waiter
    try:
        if is_main and hub.main_calls:
            _run_main_calls(hub)    # left by a signal handler that raised
        ready = hub.ready
        while waiter.state == PARKED:
            if ready and ready[0][0] is RESUME and hub.direct_budget:
                # Straight to the next runnable green thread, skipping the hub.
                hub.direct_budget -= 1
                RESUME(ready.popleft()[1])
            else:
                hub.greenlet.switch(waiter)     # (the hub ignores it; see _final)
            if is_main and hub.main_calls:
                _run_main_calls(hub)
    except BaseException:
        _claim(waiter, CANCELLED)
        raise
    finally:
        if is_main:
            hub.main_waiter = None
        else:
            glet.waiter = None
        if timer is not None:
            hub.timers.cancel(timer)
    return waiter.state == WOKEN


def call_in_main(hub, function, args):
    """Run ``function(*args)`` in ``hub``'s main green thread, as soon as it runs.

    The main thread is interrupted wherever it waits; what ``function``
    raises comes out of that wait, and if it returns normally the wait goes
    on (see park()).  Call from the hub's OS thread (a signal handler), from
    any greenlet but the main one.
    """
    hub.main_calls.append((function, args))
    if getcurrent() is hub.greenlet:
        # Noticed by the hub itself, maybe in the middle of a poll that
        # PEP 475 would simply retry: make that poll return.
        hub.wakeup.write()
    main = hub.main_glet
    waiter = hub.main_waiter
    if waiter is not None and waiter.state == PARKED:
        # A wake-up that resolves nothing: park() runs the calls and parks again.
        hub.ready.append((main.switch, None))


def _run_main_calls(hub):
    """Run the pending :func:`call_in_main` calls (in the main green thread).

    If one raises, the rest stay queued; the main thread runs them at its
    next wait, which it checks before it parks.
    """
    calls = hub.main_calls
    parked_on = hub.main_waiter     # a handler that waits parks again inside park()
    try:
        while calls:
            function, args = calls.pop(0)
            function(*args)
    finally:
        hub.main_waiter = parked_on


def waiter_of(glet):
    """The Waiter greenlet ``glet`` is parked on in :func:`park` (or None)."""
    hub = hub_of_main(glet)
    return getattr(glet, 'waiter', None) if hub is None else hub.main_waiter


def unpark(waiter: Waiter, value=True):
    """Claim ``waiter`` as woken with ``value`` and deliver the wake-up.

    Returns True if this call woke it, False if it was already resolved.
    Safe from any OS thread.  A waiter outside any queue is claimed in its own
    hub's thread (its timer and I/O callbacks run there).
    """
    if waiter.queue is None and waiter.hub.thread_ident != _real_get_ident():
        waiter.hub.call_threadsafe(_unpark_here, (waiter, value))
        return True
    if not _claim(waiter, WOKEN):
        return False
    waiter.value = value
    deliver(waiter)
    return True


def cancel_after_fork(waiter):
    """In a forked child: resolve a parked ``waiter`` as cancelled, so no release can wake it.

    Its queue's mutex is not taken: a thread that no longer exists may have
    held it at the fork (and nobody else runs in the child yet).
    """
    if waiter.state == PARKED:
        waiter.state = CANCELLED
        if waiter.queue is not None:
            waiter.queue._stale += 1


def _unpark_here(args):
    unpark(*args)


#: What a ``retry`` callback of :meth:`WaitQueue.wait` returns while the caller must still wait.
PENDING = type('PENDING', (), {'__repr__': lambda self: 'PENDING', '__slots__': ()})()

# A queue compacts its resolved waiters once more than this many (and more
# than the parked ones) have piled up in its middle.
_COMPACT_AFTER = 64


class WaitQueue:
    """A FIFO of parked waiters, the mutex that guards claims on them, and the waiting protocol.

    Waiting is :meth:`wait` and nothing else: it enqueues, re-checks, parks,
    and on the way out leaves the queue as it found it (see there).  Wakers
    call :meth:`wake_one`/:meth:`wake_all`, or, inside ``with queue.mutex``
    when they change their own state in the same section, the methods
    marked "mutex held".  A claimed waiter is delivered at once, inside the
    section: re-entrant code that runs later in the section and waits for the
    new owner must find it already runnable.

    A waiter that timed out or was cancelled in the middle of the queue is
    left in place (O(1)) and counted stale; one at either end is removed at
    once, and the stale ones are compacted away in bulk when they outnumber
    the parked ones, so the queue never holds more than about twice its
    parked waiters (plus a constant).  ``entries`` (a deque) is true
    whenever anyone may be waiting: a cheap lock-free hint for fast paths,
    to be confirmed under the mutex.  Only this module changes it.
    """
    __slots__ = ('entries', '_stale', 'mutex')

    def __init__(self):
        self.entries = deque()
        self._stale = 0
        self.mutex = _real_rlock()

    def __len__(self):
        """The number of waiters still parked."""
        return len(self.entries) - self._stale

    def __bool__(self):
        return len(self.entries) > self._stale

    def wait(self, retry=None, timeout=None, reason=None, undo=None, expired=False):
        """Park the current green thread at the back of the queue until a waker claims it.

        1. A :class:`Waiter` for ``reason`` (what deadlock reports name) joins
           the back of the queue.
        2. ``retry(reason)``, if given, runs under the mutex: what the caller waits
           for may have happened (in another OS thread) between the caller's
           own check and step 1.  If it returns anything but :data:`PENDING`
           the waiter is withdrawn and that value returned.  (It may also
           make the caller's state change that must follow the enqueue, as
           Condition releases its lock there.)
        3. Park for ``timeout`` seconds (None: no limit; 0: withdraw at once
           unless a waker claimed the waiter already).
        4. Woken: return the value the waker passed.  Timed out: return
           ``expired``.  An exception thrown into the parked thread (Ctrl-C,
           a deadlock report) propagates; if a waker had already claimed the
           waiter, ``undo(value)`` first gives back what it handed over.

        Whichever way the wait ends, the queue keeps no trace of it beyond
        the bounded stale count described on the class.
        """
        # Waiter(reason), made inline: this runs for every wait.
        waiter: Waiter = Waiter.__new__(Waiter)
        waiter.glet = getcurrent()
        try:
            waiter.hub = _tls.hub
        except AttributeError:
            waiter.hub = get_hub()
        waiter.state = PARKED
        waiter.value = None
        waiter.reason = reason
        waiter.queue = self
        with self.mutex:
            self.entries.append(waiter)
            if retry is not None:
                try:
                    result = retry(reason)
                except BaseException:
                    self._withdraw(waiter)
                    raise
                if result is not PENDING:
                    self._withdraw(waiter)
                    return result
        try:
            if timeout is not None and timeout == 0:
                if _claim(waiter, CANCELLED):
                    self._forget(waiter)
                    return expired
                return waiter.value     # claimed between enqueue and now
            if park(waiter, timeout):
                return waiter.value
        except BaseException:
            if waiter.state == WOKEN:
                if undo is not None:
                    undo(waiter.value)
            else:
                self._forget(waiter)
            raise
        self._forget(waiter)
        return expired

    def _withdraw(self, waiter):
        # A waiter that never parked (mutex held): no waker saw it unclaimed.
        waiter.state = CANCELLED
        self._stale += 1
        self._drop(waiter)

    def _forget(self, waiter):
        # The caller's waiter timed out or was cancelled: take it out if cheap.
        with self.mutex:
            self._drop(waiter)

    def _drop(self, waiter):
        """Remove resolved ``waiter`` if it is at either end, else compact when due (mutex held)."""
        waiters = self.entries
        if waiters:
            if waiters[-1] is waiter:
                waiters.pop()
                self._stale -= 1
                return
            if waiters[0] is waiter:
                waiters.popleft()
                self._stale -= 1
                return
        if self._stale > _COMPACT_AFTER and self._stale * 2 > len(waiters):
            # In place, one pass: an append made meanwhile by re-entrant code
            # (the mutex is reentrant) cannot be lost.
            for _ in range(len(waiters)):
                w: Waiter = waiters.popleft()
                if w.state == PARKED:
                    waiters.append(w)
                else:
                    self._stale -= 1

    def claim_next(self, value=True, deliver_now=True):
        """Claim (and deliver) the longest-waiting parked waiter (mutex held); None if none."""
        waiters = self.entries
        while waiters:
            w: Waiter = waiters.popleft()
            if w.state == PARKED:
                w.state = WOKEN
                w.value = value
                if deliver_now:
                    hub: Hub = w.hub
                    if hub.thread_ident == _real_get_ident():   # deliver(), inlined
                        hub.ready.append((RESUME, w.glet))
                    else:
                        hub.call_threadsafe(RESUME, w.glet)
                return w
            self._stale -= 1
        return None

    def claim(self, waiter: Waiter, value=True):
        """Claim and deliver ``waiter``, a parked one found by :meth:`first_parked`, where it stands (mutex held)."""
        waiter.state = WOKEN
        waiter.value = value
        self._stale += 1           # resolved, but still in the deque
        deliver(waiter)

    def first_parked(self):
        """The longest-waiting parked waiter, left in place (mutex held); None if none."""
        for w in self.entries:
            if w.state == PARKED:
                return w
        return None

    def claim_all(self, value=True):
        """Claim and deliver every parked waiter, in FIFO order (mutex held); return how many."""
        waiters = self.entries
        popleft = waiters.popleft
        me = _real_get_ident()
        n = 0
        # Only those present now: waiters added meanwhile by re-entrant code stay.
        for _ in range(len(waiters)):
            if not waiters:
                break               # emptied by re-entrant code (a signal handler)
            w: Waiter = popleft()
            if w.state == PARKED:
                w.state = WOKEN
                w.value = value
                hub: Hub = w.hub
                if hub.thread_ident == me:   # deliver(), inlined
                    hub.ready.append((RESUME, w.glet))
                else:
                    hub.call_threadsafe(RESUME, w.glet)
                n += 1
            else:
                self._stale -= 1
        return n

    def wake_one(self, value=True):
        """Wake the longest-waiting parked waiter; return it, or None if there is none."""
        with self.mutex:
            return self.claim_next(value)

    def wake_all(self, value=True):
        """Wake every parked waiter, in FIFO order; return how many were woken."""
        with self.mutex:
            return self.claim_all(value)


def yield_now():
    """Let every other runnable green thread run once, then continue."""
    hub: Hub = peek_hub()
    if hub is None:
        # No hub: no other green thread in this OS thread to let run.  Not
        # creating one here keeps a probe (select with a zero timeout) from
        # taking descriptor numbers the program expects to be free.
        return
    glet = getcurrent()
    if glet is hub.greenlet:
        raise HubBlockingError('cannot yield from inside the greenthreads hub')
    if hub.main_calls and glet is hub.main_glet:
        _run_main_calls(hub)
    ready = hub.ready
    if not ready and hub.nothing_pending():
        # Nothing else runnable, and no timer or I/O a hub turn could find
        # ready: nobody to let run (a call from another OS thread that comes
        # in now is seen by the next probe).
        return
    ready.append((RESUME, glet))
    if len(ready) > 1 and ready[0][0] is RESUME and hub.direct_budget:
        hub.direct_budget -= 1
        RESUME(ready.popleft()[1])
    else:
        # Alone, or the next entry is hub work: a hub turn also looks at
        # timers and I/O, which is what a polling sleep(0) loop waits for.
        hub.greenlet.switch(YIELD)
    if hub.main_calls and glet is hub.main_glet:
        _run_main_calls(hub)


def sleep(seconds=_NO_ARGUMENT, /, *more, **keywords):
    """Block the current green thread for ``seconds``; ``sleep(0)`` just yields.

    Takes what ``time.sleep`` takes (a float, or an integer or anything with
    ``__index__``) and raises what it raises for anything else, without
    sleeping: ValueError for a negative or NaN length, OverflowError past
    what it can express, TypeError for other types and for keywords.
    """
    if keywords or more or seconds is _NO_ARGUMENT:
        # Not one positional argument: time.sleep's TypeError, never a sleep.
        _real_sleep(*((seconds,) if seconds is not _NO_ARGUMENT else ()), *more, **keywords)
    if seconds.__class__ is not float and seconds.__class__ is not int \
            or not 0 < seconds <= _MAX_SLEEP:
        seconds = _sleep_length(seconds)
    if seconds > 0:
        park(Waiter('sleep'), seconds)
    else:
        yield_now()


# The longest sleep time.sleep expresses (int64 nanoseconds), a bit beyond
# which it surely overflows.
_MAX_SLEEP = 9223372036.0
_OVERFLOWS = 9223372037


def _sleep_length(seconds):
    """``seconds`` read as ``time.sleep`` reads it; raises as it does for bad input."""
    if isinstance(seconds, float):
        value = float(seconds)
    else:
        try:
            value = _index(seconds)
        except TypeError:
            value = None
    if value is None or value != value or value < 0 or value > _OVERFLOWS:
        _real_sleep(seconds)        # bad input: raises its own error, never sleeps
        raise AssertionError(f'time.sleep accepted {seconds!r}')   # pragma: no cover
    return value


class _FdWait(tuple):
    """``(fd, event)``, what an fd waiter waits on (a tuple: made without a Python call)."""
    __slots__ = ()

    def __repr__(self):
        return f'fd {self[0]} to become {"readable" if self[1] == READ else "writable"}'


def io_ready(waiter: Waiter):
    """The hub's I/O callback for a parked waiter (runs in the waiter's own hub)."""
    if not waiter.state:
        waiter.state = WOKEN
        waiter.hub.ready.append((RESUME, waiter.glet))



def wait_fd(fd, event, timeout=None, owner=None, unsure=False):
    """Park until ``fd`` is ready for ``event`` (READ or WRITE).

    Returns True when ready (or in error: the next I/O call reports it),
    False if ``timeout`` expired first.  A True may be spurious: callers
    retry their I/O call and wait again.  ``owner``: see :meth:`Poller.add`
    (a caller whose I/O call on ``fd`` just failed with EAGAIN waits without
    a syscall); ``unsure``: see there too.
    """
    # Waiter(_FdWait((fd, event))), made inline: this runs for every wait.
    waiter: Waiter = Waiter.__new__(Waiter)
    waiter.glet = getcurrent()
    try:
        waiter.hub = hub = _tls.hub
    except AttributeError:
        waiter.hub = hub = get_hub()
    waiter.state = PARKED
    waiter.value = waiter.queue = None
    waiter.reason = _FdWait((fd, event))
    poller = hub.poller
    handle = poller.add(fd, event, io_ready, waiter, owner, unsure)
    try:
        return park(waiter, timeout)
    finally:
        if waiter.state != WOKEN:
            poller.remove(fd, handle)
