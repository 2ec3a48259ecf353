"""Cooperative ``select``: ``select()``, ``poll()`` and ``epoll`` park only the calling green thread.

Each first asks the kernel without waiting (the real call with a zero
timeout); only if nothing is ready does it register interest with the hub and
park, then ask again.  Every call is a scheduling point, even one that does
not wait.  Arguments are validated by the real C objects, so errors are
exactly CPython's.  ``devpoll`` and ``kqueue`` are not offered: under the
monkey patch they are removed from ``select`` (and their selectors from
``selectors``).
"""

import operator
import select as _std
import time

from .._hub import peek_hub
from .._originals import real_select as _real_select, real_poll as _real_poll, \
    real_epoll as _real_epoll
from .._poller import READ, WRITE
from .._park import Waiter, park, io_ready, yield_now, wait_fd

from select import error, POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL  # noqa: F401
from select import POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND, POLLMSG  # noqa: F401

__all__ = ['select', 'poll', 'error', 'POLLIN', 'POLLPRI', 'POLLOUT', 'POLLERR', 'POLLHUP',
           'POLLNVAL', 'POLLRDNORM', 'POLLRDBAND', 'POLLWRNORM', 'POLLWRBAND', 'POLLMSG']

_monotonic = time.monotonic
_index = operator.index
_new = object.__new__

# A descriptor number no process can have open (above the kernel's largest
# possible fs.nr_open): poll(2) reports it POLLNVAL at once, so a poll object
# watching it validates a timeout without ever waiting.
_NEVER_OPEN_FD = 0x7FFFFFFF
# Timeouts safely inside C's int range of milliseconds, checked without a C call.
_MAX_MS = 2147483647.0
_MAX_S = 2147483.0
_READ_BITS = POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND
_WRITE_BITS = POLLOUT | POLLWRNORM | POLLWRBAND
_EPOLL_DEFAULT = (getattr(_std, 'EPOLLIN', 0) | getattr(_std, 'EPOLLPRI', 0)
                  | getattr(_std, 'EPOLLOUT', 0))


def _fileno(obj):
    return obj if isinstance(obj, int) else obj.fileno()


def _wait_any(interests, timeout):
    """Park until one of ``interests`` (``[(fd, READ|WRITE)]``) is ready or ``timeout`` passes."""
    waiter = Waiter('select')
    poller = waiter.hub.poller
    handles = [(fd, poller.add(fd, event, io_ready, waiter)) for fd, event in interests]
    try:
        return park(waiter, timeout)
    finally:
        for fd, handle in handles:
            poller.remove(fd, handle)


def _seconds(timeout):
    """A select() timeout as float seconds (None: no limit), validated by the real select."""
    if timeout is None:
        return None
    if timeout.__class__ in (int, float) and timeout >= 0:
        return float(timeout)
    _real_select([], [], [], timeout)   # raises exactly CPython's error, never waits
    return float(timeout)


def select(rlist, wlist, xlist, timeout=None):
    """Wait until some of the objects are ready; same arguments and results as ``select.select``."""
    seconds = _seconds(timeout)
    # Every call is a scheduling point: a loop that polls with a zero
    # timeout, or always finds something ready, must still let the other
    # threads run (they would, natively, on other cores).
    yield_now()
    ready = _real_select(rlist, wlist, xlist, 0)
    if ready[0] or ready[1] or ready[2] or seconds == 0:
        return ready
    interests = {(_fileno(o), READ) for o in rlist}
    interests |= {(_fileno(o), READ) for o in xlist}
    interests |= {(_fileno(o), WRITE) for o in wlist}
    deadline = None if seconds is None else _monotonic() + seconds
    while True:
        remaining = None if deadline is None else max(deadline - _monotonic(), 0.0)
        # With no objects this is a plain timed park (or, with no timeout,
        # a wait for ever that the deadlock check reports if nothing else runs).
        _wait_any(interests, remaining)
        ready = _real_select(rlist, wlist, xlist, 0)
        if ready[0] or ready[1] or ready[2]:
            return ready
        if deadline is not None and _monotonic() >= deadline:
            return ready


def _as_number(timeout):
    """A timeout the C code accepted (an int, a float, or an object with ``__index__``) as a number."""
    return timeout if isinstance(timeout, float) else _index(timeout)


def _refuse_subclass(name):
    def __init_subclass__(cls, **kwargs):
        raise TypeError(f"type 'select.{name}' is not an acceptable base type")
    return classmethod(__init_subclass__)


def _refuse_pickle(name):
    def __reduce_ex__(self, protocol):
        raise TypeError(f"cannot pickle 'select.{name}' object")
    return __reduce_ex__


# --------------------------------------------------------------------- poll
def _fd_of(obj):
    """``obj``'s descriptor for the C poll object, looking it up only once.

    An int (or a ``fileno()`` that gives one) is passed as that int; anything
    else is passed as ``obj`` itself, so that C raises its own error.
    """
    if isinstance(obj, int):
        return obj
    fileno = getattr(obj, 'fileno', None)
    if fileno is None:
        return obj
    fd = fileno()
    return fd if isinstance(fd, int) else obj


def _poll_seconds(timeout):
    """``poll.poll``'s timeout (milliseconds) as float seconds to wait; None: no limit.

    Validated exactly as C does: a value of an unusual type or size goes
    through a C poll object that cannot wait (see _NEVER_OPEN_FD).
    """
    if timeout is None:
        return None
    cls = timeout.__class__
    if not ((cls is int or cls is float) and -_MAX_MS < timeout < _MAX_MS):
        checker = _real_poll()
        checker.register(_NEVER_OPEN_FD, 0)
        checker.poll(timeout)
        timeout = _as_number(timeout)
    # C rounds a negative timeout away from zero: every one waits for ever.
    return None if timeout < 0 else timeout / 1000.0


def _interests(masks):
    """The hub interests ``[(fd, READ|WRITE)]`` that cover the poll masks ``{fd: mask}``."""
    interests = []
    for fd, mask in masks.items():
        if mask & _WRITE_BITS:
            interests.append((fd, WRITE))
        if mask & _READ_BITS or not mask & _WRITE_BITS:
            interests.append((fd, READ))    # (with no bits: errors and hang-ups only)
    return interests


class _Poll:
    """A cooperative ``select.poll`` object; made only by :func:`poll`, like the C one.

    It keeps its registrations in a real C poll object, which validates every
    argument (the same TypeError, ValueError, OverflowError, KeyError and
    FileNotFoundError as CPython) and answers the no-wait probes.  While a
    call runs, ``_busy`` is the C object it probes (True until it has one,
    None when no call runs).
    """
    __slots__ = ('_real', '_masks', '_busy')

    def __new__(cls, *args, **kwargs):
        raise TypeError("cannot create 'select.poll' instances")

    __init_subclass__ = _refuse_subclass('poll')
    __reduce_ex__ = _refuse_pickle('poll')

    def _changing(self):
        """The C object to change registrations on.

        A waiting call goes on with the registrations it started with, as in
        C (which reads them into an array when a call starts): changes made
        meanwhile go to a copy, which the next call uses.
        """
        real = self._real
        if real is self._busy:
            real = self._real = _real_poll()
            for fd, mask in self._masks.items():
                real.register(fd, mask)
        return real

    def register(self, fd, eventmask=POLLIN | POLLPRI | POLLOUT, /):
        """Watch ``fd`` (an int, or an object with ``fileno()``) for ``eventmask``.

        Registering a registered ``fd`` again replaces its mask.
        """
        fd = _fd_of(fd)
        self._changing().register(fd, eventmask)
        self._masks[_index(fd)] = _index(eventmask)

    def modify(self, fd, eventmask, /):
        """Change the events watched on ``fd``; FileNotFoundError (ENOENT) if it is not registered."""
        fd = _fd_of(fd)
        self._changing().modify(fd, eventmask)
        self._masks[_index(fd)] = _index(eventmask)

    def unregister(self, fd, /):
        """Stop watching ``fd``; KeyError if it is not registered."""
        fd = _fd_of(fd)
        self._changing().unregister(fd)
        del self._masks[_index(fd)]

    def poll(self, timeout=None, /):
        """Return ``[(fd, events)]`` ready now, waiting up to ``timeout`` milliseconds.

        None or a negative timeout waits for ever; 0 does not wait but still
        lets the other green threads run first.  Registrations changed while
        a call waits count from the next call, as in C.  A second call on the
        same object while one waits raises RuntimeError, as in C.
        """
        seconds = _poll_seconds(timeout)
        if self._busy is not None:
            raise RuntimeError('concurrent poll() invocation')
        self._busy = True
        try:
            yield_now()      # a scheduling point, as in select()
            real = self._busy = self._real
            events = real.poll(0)
            if events or seconds == 0:
                return events
            interests = _interests(self._masks)
            deadline = None if seconds is None else _monotonic() + seconds
            while True:
                remaining = None if deadline is None else max(deadline - _monotonic(), 0.0)
                _wait_any(interests, remaining)
                events = real.poll(0)
                if events or (deadline is not None and _monotonic() >= deadline):
                    return events
        finally:
            self._busy = None


_Poll.__name__ = _Poll.__qualname__ = 'poll'
_Poll.__module__ = 'select'


def poll():
    """Return a new cooperative poll object (as ``select.poll()``: its type cannot be called)."""
    obj = _new(_Poll)
    obj._real = _real_poll()
    obj._masks = {}
    obj._busy = None
    return obj


# -------------------------------------------------------------------- epoll
def _epoll_seconds(real, timeout):
    """``epoll.poll``'s timeout (seconds) as float seconds to wait; None: no limit.

    An unusual value is validated by the C object itself, asked for zero
    events: C checks that it is open, then the timeout, then ``maxevents``,
    so a valid timeout ends in the maxevents error and never waits.
    """
    if timeout is None:
        return None
    cls = timeout.__class__
    if not ((cls is int or cls is float) and -_MAX_S < timeout < _MAX_S):
        try:
            real.poll(timeout, 0)
        except ValueError as exc:
            if not str(exc).startswith('maxevents'):
                raise
        timeout = _as_number(timeout)
    if timeout < 0:
        # C rounds to whole milliseconds towards +inf: a timeout above -1 ms
        # (in nanoseconds, rounded away from zero) does not wait at all.
        return None if timeout * 1e9 < -999999.0 else 0.0
    return float(timeout)


class epoll:
    """A cooperative ``select.epoll``: the same API and errors, but ``poll`` parks only the caller.

    A wrapper around a real epoll object (the C type cannot be subclassed).
    While a ``poll`` waits, the hub watches the epoll descriptor itself,
    which is readable when an event is ready.
    """
    __slots__ = ('_epoll',)

    def __new__(cls, *args, **kwargs):
        """``epoll(sizehint=-1, flags=0)``: a new epoll object (arguments checked by C)."""
        self = _new(cls)
        self._epoll = _real_epoll(*args, **kwargs)
        return self

    __init_subclass__ = _refuse_subclass('epoll')
    __reduce_ex__ = _refuse_pickle('epoll')

    @classmethod
    def fromfd(cls, fd, /):
        """An epoll object for the existing epoll descriptor ``fd`` (not duplicated)."""
        self = _new(cls)
        self._epoll = _real_epoll.fromfd(fd)
        return self

    @property
    def closed(self):
        """True once the epoll descriptor is closed."""
        return self._epoll.closed

    def fileno(self):
        """The epoll descriptor; ValueError once closed."""
        return self._epoll.fileno()

    def close(self):
        """Close the epoll descriptor (idempotent); a ``poll`` waiting on it raises ValueError."""
        real = self._epoll
        if not real.closed:
            hub = peek_hub()
            if hub is not None:
                hub.close_fd(real.fileno())
        real.close()

    def register(self, fd, eventmask=_EPOLL_DEFAULT):
        """Watch ``fd`` for ``eventmask``; FileExistsError if it is registered already."""
        self._epoll.register(fd, eventmask)

    def modify(self, fd, eventmask):
        """Change the events watched on registered ``fd``; FileNotFoundError if it is not."""
        self._epoll.modify(fd, eventmask)

    def unregister(self, fd):
        """Stop watching ``fd``; FileNotFoundError if it is not registered."""
        self._epoll.unregister(fd)

    def poll(self, timeout=None, maxevents=-1):
        """Return up to ``maxevents`` ``[(fd, events)]``, waiting up to ``timeout`` seconds.

        None or a timeout of -1 ms or less waits for ever; 0 does not wait but
        still lets the other green threads run first.  Several green threads
        may wait on one object at once, as OS threads may.
        """
        real = self._epoll
        seconds = _epoll_seconds(real, timeout)
        yield_now()      # a scheduling point, as in select()
        events = real.poll(0, maxevents)
        if events or seconds == 0:
            return events
        fd = real.fileno()
        if seconds is None:
            while not events:
                wait_fd(fd, READ)
                events = real.poll(0, maxevents)
            return events
        deadline = _monotonic() + seconds
        while True:
            wait_fd(fd, READ, max(deadline - _monotonic(), 0.0))
            events = real.poll(0, maxevents)
            if events or _monotonic() >= deadline:
                return events

    def __enter__(self):
        """Return self; ValueError if closed."""
        self._epoll.__enter__()
        return self

    def __exit__(self, exc_type=None, exc_value=None, exc_tb=None, /):
        """Close the epoll object."""
        self.close()


epoll.__module__ = 'select'

if _real_epoll is None:  # pragma: no cover - not Linux
    del epoll
else:
    __all__.append('epoll')
    for _name in dir(_std):
        if _name.startswith('EPOLL'):
            globals()[_name] = getattr(_std, _name)
            __all__.append(_name)
    del _name
