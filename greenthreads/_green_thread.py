"""The ``_thread`` module's contract, on green threads.

What :func:`greenthreads.monkey.patch_thread` installs into ``_thread`` (and
into ``threading``'s private copies of ``_thread`` functions), for the running
Python version: ``start_new_thread`` and, on 3.13+, ``start_joinable_thread``
with a ``_ThreadHandle`` whose ``join(timeout)`` parks; ``_set_sentinel`` on
3.10-3.12 (released when the green thread ends, which the interpreter cannot
do for a greenlet); ``_count``; ``_shutdown``; and the lock types.

A thread started here has no ``threading.Thread`` object, exactly as with the
real ``_thread``: ``threading.current_thread()`` inside it gives a dummy.
"""

import sys
import _thread

from contextvars import Context
from greenlet import getcurrent

from ._compat import UNRAISABLE_NAMES_FUNCTION
from ._hub import get_hub
from ._locks import Lock, RLock, check_acquire_args, lazy_queue
from ._local import local
from ._park import PENDING
from ._threads import (finished_meanwhile, get_ident, stack_size, _nondaemon, _live, _register_exit_hook,
                       _forget_dummy_of)
from . import _threads

__all__ = ['start_new_thread', 'start_new', 'allocate_lock', 'allocate', 'LockType', 'lock',
           'RLock', 'get_ident', 'get_native_id', '_count', '_local', 'stack_size',
           'TIMEOUT_MAX', 'error', 'exit', 'exit_thread', 'interrupt_main',
           'daemon_threads_allowed', '_excepthook', '_ExceptHookArgs']

# Unchanged from the real module: they are about the OS thread or the process.
get_native_id = _thread.get_native_id
TIMEOUT_MAX = _thread.TIMEOUT_MAX
error = _thread.error
exit = exit_thread = _thread.exit
interrupt_main = _thread.interrupt_main
_excepthook = _thread._excepthook
_ExceptHookArgs = _thread._ExceptHookArgs
daemon_threads_allowed = getattr(_thread, 'daemon_threads_allowed', None)

allocate_lock = allocate = LockType = lock = Lock
_local = local


def _count():
    """The number of green threads started here or by threading that are still running."""
    return _live.count


class _RawThread:
    """A thread started through this module: what it runs and its bookkeeping."""
    __slots__ = ('function', 'args', 'kwargs', 'handle', 'sentinels', '__weakref__')

    def __init__(self, function, args, kwargs, handle):
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.handle = handle
        self.sentinels = None


def start_new_thread(function, args, kwargs=None):
    """Start a green thread running ``function(*args, **kwargs)``; return its ident."""
    if not callable(function):
        raise TypeError('first arg must be callable')
    if not isinstance(args, tuple):
        raise TypeError('2nd arg must be a tuple')
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError('optional 3rd arg must be a dictionary')
    raw = _RawThread(function, args, kwargs or {}, None)
    _live.count += 1
    get_hub().spawn(_run_raw, raw)
    return id(raw)


start_new = start_new_thread


def _run_raw(raw):
    g = getcurrent()
    g.ident = ident = id(raw)
    g.thread = None
    handle = raw.handle
    g.gr_context = Context()
    try:
        raw.function(*raw.args, **raw.kwargs)
    except SystemExit:
        pass
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        _report_unraisable(exc, raw.function)
    finally:
        _live.count -= 1
        _forget_dummy_of(g, ident)
        if raw.sentinels:
            for sentinel in raw.sentinels:
                sentinel.release()
        if handle is not None:
            handle._set_done()
        raw.function = raw.args = raw.kwargs = None


def _report_unraisable(exc, function):
    if UNRAISABLE_NAMES_FUNCTION:
        msg, obj = f'Exception ignored in thread started by {function!r}', None
    else:
        msg, obj = 'Exception ignored in thread started by', function
    try:
        sys.unraisablehook(_unraisable_args_type()((type(exc), exc, exc.__traceback__, msg, obj)))
    except Exception:  # pragma: no cover - a broken hook: say something anyway
        print(f'{msg}: {function!r}', file=sys.stderr)


_UNRAISABLE_TYPE = None


def _unraisable_args_type():
    # sys.unraisablehook requires the interpreter's UnraisableHookArgs, which
    # is not exposed: capture one from a harmless unraisable exception.
    global _UNRAISABLE_TYPE
    if _UNRAISABLE_TYPE is None:
        captured = []
        old = sys.unraisablehook
        sys.unraisablehook = captured.append

        class _Raiser:
            def __del__(self):
                raise RuntimeError('probe')
        try:
            _Raiser()
        finally:
            sys.unraisablehook = old
        _UNRAISABLE_TYPE = type(captured[0])
    return _UNRAISABLE_TYPE


# --------------------------------------------- Python 3.10-3.12: the sentinel
def _set_sentinel():
    """A lock the caller acquires; released when the calling green thread ends.

    ``threading.Thread`` (the stdlib class, 3.10-3.12) waits on it in join()
    and at exit.
    """
    sentinel = Lock()
    g = getcurrent()
    raw = _current_raw(g)
    if raw is not None:
        if raw.sentinels is None:
            raw.sentinels = []
        raw.sentinels.append(sentinel)
    return sentinel


def _current_raw(g):
    job = getattr(g, 'job', None)
    return job if isinstance(job, _RawThread) else None


# ------------------------------------------------- Python 3.13+: the handles
class _ThreadHandle:
    """A joinable handle on a green thread (the 3.13+ ``_thread._ThreadHandle``)."""
    __slots__ = ('ident', '_done', '_joiners', '__weakref__')

    def __init__(self):
        self.ident = 0
        self._done = False
        self._joiners = None

    def __repr__(self):
        return f'<{type(self).__module__}._ThreadHandle object: ident={self.ident}>'

    def is_done(self):
        """True once the thread has finished."""
        return self._done

    def _set_done(self):
        if not self.ident:
            raise RuntimeError('thread not started')
        self._done = True
        _nondaemon.pop(self, None)
        q = self._joiners
        if q is not None:
            q.wake_all()

    def join(self, timeout=None):
        """Wait for the thread to finish, for at most ``timeout`` seconds (None: for ever)."""
        if timeout is not None:
            timeout = check_acquire_args(True, max(timeout, 0) if timeout != -1 else -1)
        if not self.ident:
            raise RuntimeError('thread not started')
        if self._done:
            return
        if self.ident == get_ident():
            raise RuntimeError('Cannot join current thread')
        if timeout is not None and timeout <= 0:
            return
        lazy_queue(self, '_joiners').wait(finished_meanwhile, timeout, self)


def start_joinable_thread(function, handle=None, daemon=True):
    """Start a green thread running ``function()``; return its :class:`_ThreadHandle`."""
    if not callable(function):
        raise TypeError('thread function must be callable')
    if handle is None:
        handle = _ThreadHandle()
    elif not isinstance(handle, _ThreadHandle):
        raise TypeError("'handle' must be a _ThreadHandle")
    elif handle.ident:
        raise RuntimeError('thread already started')
    raw = _RawThread(function, (), {}, handle)
    handle.ident = id(raw)
    _live.count += 1
    if not daemon:
        _nondaemon[handle] = None
        _register_exit_hook()
    get_hub().spawn(_run_raw, raw)
    return handle


def _make_thread_handle(ident):
    """A handle for a thread this module did not start (the main thread, dummies)."""
    handle = _ThreadHandle()
    handle.ident = ident
    return handle


def _get_main_thread_ident():
    return _threads.main_thread().ident


def _shutdown():
    """Join every non-daemon green thread (``threading._shutdown`` calls this on 3.13+)."""
    _threads._shutdown()
