"""Signal handlers that run in the main thread, as with real threads.

CPython runs a Python signal handler in the main thread, between two of its
bytecodes; what the handler raises comes out of whatever the main thread was
doing (a ``join()``, a ``recv()``, a ``sleep()``), and if it returns the
interrupted call goes on.  With green threads the interpreter runs the
handler in whichever greenlet is current when the signal is noticed: often
the hub (waiting in epoll), where it may not block and where an exception
would hit the scheduler, or another green thread, which it would kill.

``signal()`` here installs a wrapper that hands the handler to the main
green thread (``_park.call_in_main``): parked or not, the main thread runs it
next, and its exception propagates there; the handler's ``frame`` is where
the main thread's code was interrupted.  ``getsignal()`` and the value
``signal()`` returns give back the handler as installed.  ``pause()`` parks
the calling green thread until a handler installed this way has run.

The C-level default ``SIGINT`` handler is left as it is: the hub already
delivers its ``KeyboardInterrupt`` to the main thread.  ``sigwait``,
``sigwaitinfo`` and ``sigtimedwait`` still block the OS thread.
"""

import os
import signal as _signal
import sys

from greenlet import getcurrent

from .._hub import get_hub, peek_hub
from .._idle import catchable_signals
from .._originals import real_signal as _real_signal, real_getsignal as _real_getsignal
from .._park import WaitQueue, call_in_main
from .._threads import get_ident, main_thread

__all__ = ['signal', 'getsignal', 'pause']

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

#: Green threads in pause(), woken when a wrapped handler is called.  Each
#: signal starts a new queue: its deferred wake-up is for the threads that
#: were pausing when it came, never for a pause() that begins afterwards.
_pausing = WaitQueue()


class _InMainThread:
    """The installed handler: runs ``handler`` in the main green thread."""

    __slots__ = ('handler',)

    def __init__(self, handler):
        self.handler = handler

    def __call__(self, signum, frame):
        hub = peek_hub()
        if hub is None:
            return self.handler(signum, frame)      # no green thread exists yet
        # Deferred: this may interrupt the pause queue's own code.
        global _pausing
        paused, _pausing = _pausing, WaitQueue()
        hub.ready.append((_wake_pausing, paused))
        if getcurrent() is hub.main_glet:
            return self.handler(signum, frame)
        call_in_main(hub, _run_in_main, (self.handler, signum))

    def __repr__(self):
        return f'<greenthreads signal wrapper of {self.handler!r}>'


def _run_in_main(handler, signum):
    # The frame CPython would pass: where the main thread's own code was
    # interrupted (the innermost frame outside greenthreads).
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    handler(signum, frame)


def _wake_pausing(paused):
    paused.wake_all()


def _unwrap(handler):
    return handler.handler if isinstance(handler, _InMainThread) else handler


def _wrapped(handler):
    """What to install for ``handler``: Python handlers get the wrapper (not the C SIGINT one)."""
    if callable(handler) and handler is not _signal.default_int_handler \
            and not isinstance(handler, _InMainThread):
        return _InMainThread(handler)
    return handler


def signal(signalnum, handler, /):
    """Set the handler for ``signalnum``; return the previous one (like ``signal.signal``).

    Only the main thread may set handlers (``ValueError`` otherwise, as with
    real threads).  A callable handler will run in the main thread.
    """
    if get_ident() != main_thread().ident:
        raise ValueError('signal only works in main thread of the main interpreter')
    return _unwrap(_real_signal(signalnum, _wrapped(handler)))


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
    for signum in catchable_signals():
        try:
            handler = _real_getsignal(signum)
            installed = _wrapped(handler)
            if installed is not handler:
                _real_signal(signum, installed)
        except (ValueError, OSError):
            continue


# Functions of the ``signal`` module written in Python report it as their
# module (CPython's test_signal checks every non-builtin one, for pydoc); the
# C ones report ``_signal``, but ours are Python functions in its place.
for _function in (signal, getsignal, pause):
    _function.__module__ = 'signal'
del _function
