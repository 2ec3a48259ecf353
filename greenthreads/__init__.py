"""greenthreads: the ``threading`` API on green threads.

``import greenthreads as threading`` gives every public name of the running
Python's ``threading`` module, with the same signatures and behaviour, but
each Thread is a greenlet scheduled cooperatively by a hub in the calling OS
thread: a blocking call (join, lock, condition, event, sleep) parks only the
green thread that made it.

Extras: :class:`DeadlockError` (raised in the main thread when every green
thread is blocked and nothing can wake them), :class:`HubBlockingError`,
:func:`sleep` (the green ``time.sleep``), :func:`to_thread` (run a blocking call in a
real OS thread, parking only the caller).
"""

import sys as _sys
import threading as _std_threading

# Before any hot module is imported: GREENTHREADS_PURE_PYTHON=1 takes their source.
from . import _accel
_accel.install()
# First: at exit CPython wipes the globals of the modules imported last first,
# and this one must outlast the rest (see its docstring).
from . import _final  # noqa: E402
from ._compat import TRACE_ALL_THREADS as _TRACE_ALL_THREADS
from ._hub import HubBlockingError
from ._idle import DeadlockError
from ._locks import Lock, RLock
from ._sync import Condition, Semaphore, BoundedSemaphore, Event, Barrier, BrokenBarrierError
from ._threads import (
    Thread, Timer, current_thread, currentThread, main_thread, enumerate, active_count,
    activeCount, get_ident, get_native_id, excepthook, __excepthook__, ExceptHookArgs,
    settrace, setprofile, gettrace, getprofile, stack_size, TIMEOUT_MAX, ThreadError,
    _excepthook_modules, _DummyThread, _MainThread, _active, _shutdown,
)
from ._local import local
from ._park import sleep
from .pool import to_thread
from . import debug as _debug  # installs the deadlock reporter on every hub

if _TRACE_ALL_THREADS:
    from ._threads import settrace_all_threads, setprofile_all_threads

__all__ = list(_std_threading.__all__) + ['DeadlockError', 'HubBlockingError', 'sleep',
                                           'to_thread']

_IMMUTABLE_TYPE = 1 << 8     # Py_TPFLAGS_IMMUTABLETYPE

# CPython spells the lock factory this way too.
_allocate_lock = Lock

#: True when the hot modules run compiled (the build's Cython extensions), False
#: in pure-Python mode (no compiler at install, or GREENTHREADS_PURE_PYTHON=1).
compiled = _accel.compiled()

# Public classes present themselves as greenthreads.X (reprs, tracebacks);
# compiled types are immutable and keep the name of the module they are in.
for _cls in (Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier, Thread, Timer,
             local, DeadlockError, HubBlockingError):
    if not _cls.__flags__ & _IMMUTABLE_TYPE:
        _cls.__module__ = __name__
del _cls

# A user replacing greenthreads.excepthook is honoured by every green thread.
_excepthook_modules.append(_sys.modules[__name__])

del _sys
