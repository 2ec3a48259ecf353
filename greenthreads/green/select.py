"""Cooperative ``select``: ``select()`` and ``poll()`` park only the calling green thread.

Both first ask the kernel without waiting (the real call with a zero timeout,
which also validates every argument exactly as CPython does); only if nothing
is ready do they register interest with the hub and park, then ask again.
``epoll``, ``devpoll`` and ``kqueue`` are not offered: under the monkey patch
they are removed from ``select`` (and their selectors from ``selectors``), so
libraries fall back to ``poll``/``select``, which are cooperative.
"""

import select as _std
import time

from .._hub import READ, WRITE
from .._park import Waiter, park, io_ready, yield_now

from select import error, POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL  # noqa: F401
from select import POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND, POLLMSG  # noqa: F401

__all__ = ['select', 'poll', 'error', 'POLLIN', 'POLLPRI', 'POLLOUT', 'POLLERR', 'POLLHUP',
           'POLLNVAL', 'POLLRDNORM', 'POLLRDBAND', 'POLLWRNORM', 'POLLWRBAND', 'POLLMSG']

_real_select = _std.select
_real_poll = _std.poll
_monotonic = time.monotonic


def _fileno(obj):
    return obj if isinstance(obj, int) else obj.fileno()


def _wait_any(interests, timeout):
    """Park until one of ``interests`` (``[(fd, READ|WRITE)]``) is ready or ``timeout`` passes."""
    waiter = Waiter('select')
    hub = waiter.hub
    handles = [(fd, hub.add_io(fd, event, io_ready, waiter)) for fd, event in interests]
    try:
        return park(waiter, timeout)
    finally:
        for fd, handle in handles:
            hub.remove_io(fd, handle)


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


class poll:
    """A cooperative ``select.poll`` object."""

    def __init__(self):
        self._fds = {}

    def register(self, fd, eventmask=POLLIN | POLLPRI | POLLOUT):
        """Watch ``fd`` for ``eventmask``."""
        fd = _fileno(fd)
        _real_poll().register(fd, eventmask)    # CPython's validation
        self._fds[fd] = eventmask

    def modify(self, fd, eventmask):
        """Change the events watched on a registered ``fd``."""
        fd = _fileno(fd)
        if fd not in self._fds:
            import errno
            import os
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
        self.register(fd, eventmask)

    def unregister(self, fd):
        """Stop watching ``fd`` (KeyError if it was not registered)."""
        del self._fds[_fileno(fd)]

    def poll(self, timeout=None):
        """Return ``[(fd, events)]`` ready now, waiting up to ``timeout`` milliseconds (None/negative: no limit)."""
        if timeout is not None:
            timeout = float(timeout) if timeout.__class__ is not float else timeout
        real = _real_poll()
        for fd, mask in self._fds.items():
            real.register(fd, mask)
        yield_now()      # a scheduling point, as in select()
        events = real.poll(0)
        if events or timeout == 0:
            return events
        seconds = None if timeout is None or timeout < 0 else timeout / 1000.0
        deadline = None if seconds is None else _monotonic() + seconds
        interests = []
        for fd, mask in self._fds.items():
            if mask & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND):
                interests.append((fd, READ))
            if mask & (POLLOUT | POLLWRNORM | POLLWRBAND):
                interests.append((fd, WRITE))
            if not mask & (POLLIN | POLLPRI | POLLOUT):
                interests.append((fd, READ))    # errors and hang-ups only
        while True:
            remaining = None if deadline is None else max(deadline - _monotonic(), 0.0)
            _wait_any(interests, remaining)
            events = real.poll(0)
            if events or (deadline is not None and _monotonic() >= deadline):
                return events
