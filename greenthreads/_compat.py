"""What the running Python does, fact by fact: facts only, no behaviour.

A bottom room, like ``_originals``: it imports only the stdlib and is
imported before ``monkey`` can patch anything.  Each fact is named for what
it is, not for the version that brought it, and is read from the
interpreter itself (an attribute that came with the change) wherever one
shows it; a version compare stands only where nothing does short of doing
the thing.  Nothing else in the package reads ``sys.version_info``
(tests/test_compat.py checks).
"""

import linecache
import sys
import threading
import _thread

__all__ = ['TRACE_ALL_THREADS', 'START_JOINABLE_THREAD',
           'THREAD_HANDLES', 'JOIN_CHECKS_TIMEOUT_WHEN_DONE', 'DUMMY_THREAD_RAISES',
           'DUMMY_THREADS_FORGOTTEN', 'UNRAISABLE_NAMES_FUNCTION', 'RLOCK_ARGS_DEPRECATED',
           'SEMLOCK_BLOCK_ANY_OBJECT', 'CREATE_CONNECTION_ALL_ERRORS', 'DOT_SCRIPT_IS_CWD',
           'COMMAND_SOURCE_IN_LINECACHE', 'MAIN_HAS_ANNOTATIONS', 'LEAVE_TRACING_API']

# -- threading and _thread: probed ------------------------------------------

#: threading has settrace_all_threads/setprofile_all_threads (3.12).
TRACE_ALL_THREADS = hasattr(threading, 'settrace_all_threads')
#: threading starts threads by _start_joinable_thread(function, handle, daemon=) (3.13).
START_JOINABLE_THREAD = hasattr(_thread, 'start_joinable_thread')
#: Thread.join waits on a _thread._ThreadHandle, not on a tstate lock (3.13).
THREAD_HANDLES = hasattr(_thread, '_ThreadHandle')
#: Thread.join checks its timeout even when the thread is done: the handle reads it (3.13).
JOIN_CHECKS_TIMEOUT_WHEN_DONE = THREAD_HANDLES
#: _DummyThread.join() and a dead dummy's is_alive() raise RuntimeError, not assert (3.13).
DUMMY_THREAD_RAISES = THREAD_HANDLES
#: The dummy Thread of a thread not started by threading leaves _active when it ends (3.13).
DUMMY_THREADS_FORGOTTEN = hasattr(threading, '_DeleteDummyThreadOnDel')

# -- version compares: nothing shows these without doing the thing ----------

#: A _thread thread's uncaught error is 'Exception ignored in thread started by <func!r>' (3.13).
UNRAISABLE_NAMES_FUNCTION = sys.version_info >= (3, 13)
#: Arguments passed to threading.RLock warn DeprecationWarning (3.13).
RLOCK_ARGS_DEPRECATED = sys.version_info >= (3, 13)
#: SemLock.acquire's block is any object's truth, not only an integer (3.12; probing needs sem_open).
SEMLOCK_BLOCK_ANY_OBJECT = sys.version_info >= (3, 12)
#: socket.create_connection takes all_errors= (3.11; probing would import socket for everyone).
CREATE_CONNECTION_ALL_ERRORS = sys.version_info >= (3, 11)
#: `python ''` and `python .` name the program by the working directory itself (3.11).
DOT_SCRIPT_IS_CWD = sys.version_info >= (3, 11)
#: C code lowers a thread's tracing count by PyThreadState_LeaveTracing (3.11; probing needs
#: ctypes for everyone); before, by the 3.10 PyThreadState fields themselves.
LEAVE_TRACING_API = sys.version_info >= (3, 11)

# -- the interpreter's startup: probed --------------------------------------

#: python -c keeps its command's text in linecache, for tracebacks (3.13, linecache._register_code).
COMMAND_SOURCE_IN_LINECACHE = hasattr(linecache, '_register_code')
#: A new __main__ starts with an empty __annotations__ dict (until 3.14: PEP 649, with annotationlib).
MAIN_HAS_ANNOTATIONS = 'annotationlib' not in sys.stdlib_module_names
