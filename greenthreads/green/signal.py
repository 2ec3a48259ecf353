"""Signal handlers that run in the main thread, as with real threads.

CPython runs a Python signal handler in the main thread, between two of its
bytecodes; what the handler raises comes out of whatever the main thread was
doing (a ``join()``, a ``recv()``, a ``sleep()``), and if it returns the
interrupted call goes on.  With green threads the interpreter runs the
handler in whichever greenlet is current when the signal is noticed: often
the hub (waiting in epoll), where it may not block and where an exception
would hit the scheduler, or another green thread, which it would kill.

``signal()`` here installs a wrapper that hands the handler to the main
green thread (``Hub.call_in_root``): parked or not, the main thread runs it
next, and its exception propagates there.  ``getsignal()`` and the value
``signal()`` returns give back the handler as installed.  ``pause()`` parks
the calling green thread until a handler installed this way has run.

The C-level default ``SIGINT`` handler is left as it is: the hub already
delivers its ``KeyboardInterrupt`` to the main thread.  ``sigwait``,
``sigwaitinfo`` and ``sigtimedwait`` still block the OS thread.
"""

import signal as _signal

from greenlet import getcurrent

from .._hub import get_hub, peek_hub
from .._park import WaitQueue
from .._threads import get_ident, main_thread

__all__ = ['signal', 'getsignal', 'pause']

_real_signal = _signal.signal
_real_getsignal = _signal.getsignal

#: Green threads in pause(), woken when a wrapped handler is called.
_pausing = WaitQueue()


class _InMainThread:
    """The installed handler: runs ``handler`` in the main green thread."""

    __slots__ = ('handler',)

    def __init__(self, handler):
        self.handler = handler

    def __call__(self, signum, frame):
        hub = peek_hub()
        if hub is None or getcurrent() is hub.root:
            # The main thread itself is running (or no green thread exists).
            try:
                return self.handler(signum, frame)
            finally:
                _pausing.wake_all()
        hub.call_in_root(self.handler, (signum, frame))
        _pausing.wake_all()

    def __repr__(self):
        return f'<greenthreads signal wrapper of {self.handler!r}>'


def _unwrap(handler):
    return handler.handler if isinstance(handler, _InMainThread) else handler


def signal(signalnum, handler, /):
    """Set the handler for ``signalnum``; return the previous one (like ``signal.signal``).

    Only the main thread may set handlers (``ValueError`` otherwise, as with
    real threads).  A callable handler will run in the main thread.
    """
    if get_ident() != main_thread().ident:
        raise ValueError('signal only works in main thread of the main interpreter')
    installed = _InMainThread(handler) if callable(handler) and handler is not \
        _signal.default_int_handler else handler
    return _unwrap(_real_signal(signalnum, installed))


def getsignal(signalnum, /):
    """The handler installed for ``signalnum`` (as passed to :func:`signal`)."""
    return _unwrap(_real_getsignal(signalnum))


def pause():
    """Park the calling green thread until a signal handler has run.

    The handler runs in the main thread; if it raises there, that is what
    ``pause()`` in the main thread raises.  While a thread waits here the hub
    does not report a deadlock: a signal may come from outside.
    """
    hub = get_hub()
    hub.outside_refs += 1
    try:
        _pausing.wait()
    finally:
        hub.outside_refs -= 1


def rewrap_installed():
    """Wrap the Python handlers installed before patching (the C default SIGINT one excepted)."""
    for signum in sorted(_signal.valid_signals()):
        try:
            handler = _real_getsignal(signum)
        except (ValueError, OSError):
            continue
        if callable(handler) and handler is not _signal.default_int_handler \
                and not isinstance(handler, _InMainThread):
            try:
                _real_signal(signum, _InMainThread(handler))
            except (ValueError, OSError):
                continue
