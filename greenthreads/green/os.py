"""Cooperative ``os.read``, ``os.write``, ``os.sendfile`` and ``os.waitpid``.

``read``/``write`` on a pipe, socket or terminal wait for readiness on the
hub's poller first, so only the calling green thread waits; regular files
(which are always "ready" and cannot be polled) are read and written
directly, as before.  ``sendfile`` to a blocking socket sends what fits
without waiting, then parks until there is room.  ``waitpid`` waits on a
pidfd for a specific child and otherwise checks back with short
cooperative sleeps.
"""

import fcntl as _fcntl
import os as _std
import select as _select
import time

from .._originals import os_read as _real_read, os_write as _real_write, \
    os_sendfile as _real_sendfile, os_waitpid as _real_waitpid
from .._poller import READ, WRITE, ready_now
from .._park import wait_fd, sleep

__all__ = ['read', 'write', 'sendfile', 'waitpid']

_monotonic = time.monotonic


def _wait_ready(fd, event):
    """Park until ``fd`` is ready; False if it cannot be polled (a regular file).

    The caller then makes a *blocking* call, so a spurious wake-up (another
    reader drained the pipe first) must not get through: the fd is checked
    with a zero-timeout poll before returning.
    """
    mask = _select.POLLIN if event == READ else _select.POLLOUT
    while True:
        try:
            wait_fd(fd, event)
        except (PermissionError, FileNotFoundError, ValueError):
            return False     # not pollable: the call will not block for long
        if ready_now((fd,), mask):    # ready, or in error (the call will say which)
            return True


def _would_wait(fd, unusable):
    """Whether a call on ``fd`` would block natively: a blocking fd open for the direction.

    A non-blocking fd (the caller asked for EAGAIN) and one not open for the
    direction (``unusable``: the call fails at once with EBADF) get the real
    call straight away, as natively.  One fcntl(2), which also raises the
    real call's error for a bad fd.
    """
    flags = _fcntl.fcntl(fd, _fcntl.F_GETFL)
    return not flags & _std.O_NONBLOCK and flags & _std.O_ACCMODE != unusable


def read(fd, n, /):
    """``os.read`` that parks only the calling green thread until ``fd`` is readable."""
    if _would_wait(fd, _std.O_WRONLY):
        _wait_ready(fd, READ)
    return _real_read(fd, n)


_PIPE_BUF = getattr(_select, 'PIPE_BUF', 512)


def write(fd, data, /):
    """``os.write`` that parks only the calling green thread until ``fd`` is writable.

    On a blocking descriptor the data goes out in PIPE_BUF pieces, each after
    the poller says there is room (a piece that size cannot block), and the
    call returns when all of it is written, as a blocking write would.
    """
    if not _would_wait(fd, _std.O_RDONLY):
        return _real_write(fd, data)
    view = memoryview(data).cast('B')
    total = 0
    while True:
        if not _wait_ready(fd, WRITE):
            return total + _real_write(fd, view[total:])    # a regular file
        total += _real_write(fd, view[total:total + _PIPE_BUF])
        if total >= len(view):
            return total


def sendfile(out_fd, in_fd, offset, count):
    """``os.sendfile`` that parks only the calling green thread while ``out_fd`` has no room.

    To a blocking descriptor, each call is made with it switched to
    non-blocking for just that call (sendfile takes no MSG_DONTWAIT), so it
    sends what fits at once and returns that count, as sendfile may; if
    nothing fits, it waits for room first.  A non-blocking ``out_fd`` gets
    the real call (and its EAGAIN), as natively.
    """
    flags = _fcntl.fcntl(out_fd, _fcntl.F_GETFL)
    if flags & _std.O_NONBLOCK:
        return _real_sendfile(out_fd, in_fd, offset, count)
    while True:
        _fcntl.fcntl(out_fd, _fcntl.F_SETFL, flags | _std.O_NONBLOCK)
        try:
            return _real_sendfile(out_fd, in_fd, offset, count)
        except BlockingIOError:
            pass
        finally:
            _fcntl.fcntl(out_fd, _fcntl.F_SETFL, flags)
        wait_fd(out_fd, WRITE)


def waitpid(pid, options, /):
    """``os.waitpid`` that parks only the calling green thread while the child runs."""
    if options & _std.WNOHANG:
        return _real_waitpid(pid, options)
    pidfd = None
    if pid > 0 and hasattr(_std, 'pidfd_open'):
        try:
            pidfd = _std.pidfd_open(pid)
        except OSError:
            pidfd = None
    try:
        delay = 0.001
        while True:
            result = _real_waitpid(pid, options | _std.WNOHANG)
            if result[0] != 0:
                return result
            if pidfd is not None:
                wait_fd(pidfd, READ)
            else:
                sleep(delay)
                delay = min(delay * 2, 0.05)
    finally:
        if pidfd is not None:
            _std.close(pidfd)
