"""Make the standard library cooperative by replacing module attributes.

Every patch is one row of a table: (module, attribute, green replacement).
:func:`patch_thread` applies the ``_thread`` / ``threading`` / ``time`` rows;
the originals stay reachable through :func:`get_original`, and
:func:`is_patched` tells what was replaced.  Patching is idempotent.

``patch_socket``, ``patch_select`` and ``patch_selectors`` make sockets,
name resolution, ``select`` and ``selectors`` cooperative, ``patch_ssl``,
``patch_os``, ``patch_subprocess`` and ``patch_queue`` the rest of the
blocking stdlib, ``patch_signal`` runs signal handlers in the main thread,
``patch_sqlite3`` makes waiting for a locked SQLite database cooperative,
``patch_multiprocessing`` waiting for multiprocessing's locks and pipes;
``patch_all`` applies everything, or everything but what its false keywords
name.

Patch as early as possible, before other modules copy names out of
``threading`` (``from threading import Lock`` made earlier keeps the real
class).  Locks the standard library created before patching and still uses
(``logging``'s, ``concurrent.futures``' shutdown lock) are replaced as well.
"""

import sys
import time as _time
import _thread
import threading as _threading

from . import _green_thread as green_thread
from . import _locks, _local, _sync, _threads
from ._park import sleep as _green_sleep
from ._hub import get_hub
from ._compat import TRACE_ALL_THREADS

__all__ = ['patch_all', 'patch_thread', 'patch_time', 'patch_socket', 'patch_select',
           'patch_selectors', 'patch_queue', 'patch_subprocess', 'patch_ssl', 'patch_os',
           'patch_signal', 'patch_sqlite3', 'patch_multiprocessing',
           'warn_about_early_copies', 'MonkeyPatchWarning',
           'get_original', 'is_patched', 'REMOVE']

_MISSING = object()
#: (module name, attribute) -> the value it had before we patched it
_saved = {}


#: A replacement value meaning "remove the attribute".
REMOVE = object()


def _patch_module(module, replacements):
    """Set each ``name: value`` on ``module`` (REMOVE deletes it), remembering the first original."""
    for name, value in replacements.items():
        key = (module.__name__, name)
        if key not in _saved:
            _saved[key] = module.__dict__.get(name, _MISSING)
        if value is REMOVE:
            if name in module.__dict__:
                delattr(module, name)
        else:
            setattr(module, name, value)


def get_original(module, name):
    """The value ``module.name`` had before greenthreads patched it.

    ``module`` is a module or its name.  Unpatched names give the current value.
    """
    modname = module if isinstance(module, str) else module.__name__
    value = _saved.get((modname, name), _MISSING)
    if value is _MISSING:
        return getattr(sys.modules[modname] if isinstance(module, str) else module, name)
    return value


def is_patched(module, name=None):
    """True if ``module`` (or its attribute ``name``) was patched."""
    modname = module if isinstance(module, str) else module.__name__
    if name is not None:
        return (modname, name) in _saved
    return any(key[0] == modname for key in _saved)


# ------------------------------------------------------------------ time
def patch_time():
    """Replace ``time.sleep`` with the green sleep (which validates as ``time.sleep`` does)."""
    _patch_module(_time, {'sleep': _green_sleep})


# ---------------------------------------------------------------- thread
def _thread_table():
    """The ``_thread`` rows: every name the running Python's ``_thread`` has that we provide."""
    table = {}
    for name in green_thread.__all__ + ['_set_sentinel', 'start_joinable_thread', '_ThreadHandle',
                                        '_make_thread_handle', '_get_main_thread_ident',
                                        '_shutdown']:
        if hasattr(_thread, name) and getattr(green_thread, name, None) is not None:
            table[name] = getattr(green_thread, name)
    return table


def _threading_table():
    """The ``threading`` rows: public names plus its private copies of ``_thread``."""
    table = {
        'Thread': _threads.Thread, 'Timer': _threads.Timer,
        'Lock': _locks.Lock, 'RLock': _locks.RLock, '_CRLock': _locks.RLock,
        '_allocate_lock': _locks.Lock,
        'Condition': _sync.Condition, 'Semaphore': _sync.Semaphore,
        'BoundedSemaphore': _sync.BoundedSemaphore, 'Event': _sync.Event,
        'Barrier': _sync.Barrier, 'local': _local.local,
        'current_thread': _threads.current_thread, 'currentThread': _threads.currentThread,
        'main_thread': _threads.main_thread,
        'enumerate': _threads.enumerate, 'active_count': _threads.active_count,
        'activeCount': _threads.activeCount, '_enumerate': _threads.enumerate,
        'get_ident': _threads.get_ident,
        'settrace': _threads.settrace, 'setprofile': _threads.setprofile,
        'gettrace': _threads.gettrace, 'getprofile': _threads.getprofile,
        '_active': _threads._active, '_DummyThread': _threads._DummyThread,
        '_MainThread': _threads._MainThread,
        '_start_new_thread': green_thread.start_new_thread,
        '_set_sentinel': green_thread._set_sentinel,
        '_start_joinable_thread': green_thread.start_joinable_thread,
        '_ThreadHandle': green_thread._ThreadHandle,
        '_make_thread_handle': green_thread._make_thread_handle,
        '_get_main_thread_ident': green_thread._get_main_thread_ident,
        '_thread_shutdown': green_thread._shutdown,
        '_LockType': _locks.Lock,
    }
    if TRACE_ALL_THREADS:
        table['settrace_all_threads'] = _threads.settrace_all_threads
        table['setprofile_all_threads'] = _threads.setprofile_all_threads
    # Only names this Python's threading really has: never invent attributes.
    return {name: value for name, value in table.items() if hasattr(_threading, name)}


def patch_thread():
    """Make ``threading``, ``_thread`` and ``time.sleep`` green.

    Afterwards ``threading.Thread`` and ``_thread.start_new_thread`` start
    green threads, every lock/condition/event/semaphore/barrier made through
    ``threading`` or ``_thread`` is green, and a replaced
    ``threading.excepthook`` is honoured by green threads.

    This one patcher reaches past its own modules: it applies
    :func:`patch_time` as well.  Green threads take turns only when the
    running one parks, and the real ``time.sleep`` never parks, so the usual
    way of waiting for another thread, polling with ``time.sleep`` (as
    ``test.support.sleeping_retry`` does), would spin for ever.  For green
    threads with the real ``time.sleep`` use ``patch_all(time=False)``.
    """
    _patch_threading()
    patch_time()


def _patch_threading():
    """What :func:`patch_thread` does to everything but ``time``."""
    _patch_module(_thread, _thread_table())
    _patch_module(_threading, _threading_table())
    if _threading not in _threads._excepthook_modules:
        _threads._excepthook_modules.append(_threading)
    # Default names come from threading._counter, as for stdlib threads.
    _threads._names = _threading
    _threads.set_patched_starter(_threading, '_start_joinable_thread'
                                 if hasattr(_threading, '_start_joinable_thread')
                                 else '_start_new_thread')
    import _threading_local
    _patch_module(_threading_local, {'local': _local.local})
    _replace_existing_locks()


def _replace_existing_locks():
    """Swap in green locks for locks the stdlib made before patching and keeps using.

    A real lock held by one green thread while it waits would block the whole
    hub when a second green thread asks for it.
    """
    logging = sys.modules.get('logging')
    if logging is not None and not isinstance(logging._lock, _locks.RLock):
        _patch_module(logging, {'_lock': _locks.RLock()})
        for ref in list(getattr(logging, '_handlerList', [])):
            handler = ref()
            if handler is not None and not isinstance(getattr(handler, 'lock', None), _locks.RLock):
                handler.createLock()
    # Stdlib modules imported at startup that copied a name out of _thread.
    for modname, name, value in (('functools', 'RLock', _locks.RLock),          # 3.10-3.11 cached_property
                                 ('reprlib', 'get_ident', _threads.get_ident),  # recursive_repr
                                 ('asyncio.base_futures', 'get_ident', _threads.get_ident)):
        module = sys.modules.get(modname)
        if module is not None and name in module.__dict__ and not (modname, name) in _saved:
            _patch_module(module, {name: value})
    futures_thread = sys.modules.get('concurrent.futures.thread')
    if futures_thread is not None and not isinstance(futures_thread._global_shutdown_lock, _locks.Lock):
        _patch_module(futures_thread, {'_global_shutdown_lock': _locks.Lock()})


# ---------------------------------------------------------------- socket
def patch_socket():
    """Make ``socket.socket`` (and so everything the stdlib builds on it) cooperative.

    The stdlib's ``create_connection``, ``socketpair``, ``fromfd``,
    ``create_server`` and ``accept`` construct ``socket.socket`` by module
    lookup, so replacing the class is enough for them.  Name resolution
    (``getaddrinfo`` and friends) still blocks for now.
    """
    import socket
    from .green import socket as green_socket
    table = {'socket': green_socket.socket}
    for name in ('getaddrinfo', 'gethostbyname', 'gethostbyname_ex', 'gethostbyaddr',
                 'getnameinfo', 'getfqdn'):
        table[name] = getattr(green_socket, name)
    _patch_module(socket, table)


# ---------------------------------------------------------- select, selectors
def patch_select():
    """Make ``select.select``/``poll``/``epoll`` cooperative and remove kqueue/devpoll.

    Code that picks an implementation by what ``select`` offers (asyncio,
    socketserver through selectors) then finds only cooperative ones.  Also
    applies :func:`patch_selectors` (selectors copied ``select.poll``/``epoll``).
    """
    import select
    from .green import select as green_select
    table = {'select': green_select.select, 'poll': green_select.poll}
    if hasattr(green_select, 'epoll'):
        table['epoll'] = green_select.epoll
    for name in ('devpoll', 'kqueue', 'kevent'):
        if hasattr(select, name):
            table[name] = REMOVE
    _patch_module(select, table)
    patch_selectors()


def patch_selectors():
    """Make every selector ``selectors`` keeps cooperative.

    ``EpollSelector``, ``PollSelector`` and ``SelectSelector`` are pointed at
    the green ``epoll``, ``poll`` and ``select`` (each class captured its
    ``select`` object when selectors was imported); ``DefaultSelector``
    stays ``EpollSelector`` where there is one.  The kqueue/devpoll selector
    classes are removed (they would block the OS thread); where one was the
    default, ``PollSelector`` is.
    """
    import selectors
    from .green import select as green_select
    table = {}
    for name in ('DevpollSelector', 'KqueueSelector'):
        if hasattr(selectors, name):
            table[name] = REMOVE
    if not hasattr(selectors, 'EpollSelector'):  # pragma: no cover - not Linux
        table['DefaultSelector'] = (selectors.PollSelector if hasattr(selectors, 'PollSelector')
                                    else selectors.SelectSelector)
    _patch_module(selectors, table)
    if hasattr(selectors, 'EpollSelector'):
        _patch_module(selectors.EpollSelector, {'_selector_cls': green_select.epoll})
    # The green functions, unlike the C builtins, would bind to the selector
    # as methods: wrapped, and only once (a new wrapper would be a change).
    if hasattr(selectors, 'PollSelector') and not is_patched(selectors.PollSelector, '_selector_cls'):
        _patch_module(selectors.PollSelector, {'_selector_cls': staticmethod(green_select.poll)})
    # (On Windows, SelectSelector._select looks select.select up at each call.)
    if sys.platform != 'win32' and not is_patched(selectors.SelectSelector, '_select'):
        _patch_module(selectors.SelectSelector, {'_select': staticmethod(green_select.select)})


# ------------------------------------------------------------------ queue
def patch_queue():
    """Make ``queue``'s classes cooperative, with the stdlib contract.

    The C ``SimpleQueue`` becomes a green one.  ``Queue``, ``LifoQueue`` and
    ``PriorityQueue`` become subclasses of the stdlib classes (so
    ``isinstance`` with those holds, and ``mutex``, the Conditions and the
    ``_put``/``_get`` hooks are there) whose ``put``/``get`` run compiled
    (greenthreads/green/queue.py).  Subclasses made before patching keep the
    stdlib methods, on the green primitives once ``threading`` is patched.
    """
    import queue
    from .green import queue as green_queue
    _patch_module(queue, {name: getattr(green_queue, name)
                          for name in ('SimpleQueue', 'Queue', 'LifoQueue', 'PriorityQueue')})


# -------------------------------------------------------------------- ssl
def patch_ssl():
    """Make TLS sockets cooperative: every ``SSLContext`` builds our ``SSLSocket``.

    Works for contexts made before patching too (the socket class is looked
    up on ``SSLContext`` when a socket is wrapped).
    """
    import ssl
    from .green import ssl as green_ssl
    # Only the class contexts build: ssl.SSLSocket itself must stay the
    # stdlib class (its _create calls super(ssl.SSLSocket, self)), and ours
    # subclasses it, so isinstance checks still hold.
    _patch_module(ssl.SSLContext, {'sslsocket_class': green_ssl.SSLSocket})


# --------------------------------------------------------------------- os
def patch_os():
    """Make ``os.read``, ``os.write`` (pipes, sockets, ttys), ``os.sendfile`` and ``os.waitpid`` cooperative."""
    import os
    from .green import os as green_os
    replacements = {'read': green_os.read, 'write': green_os.write, 'waitpid': green_os.waitpid}
    if hasattr(os, 'sendfile'):
        replacements['sendfile'] = green_os.sendfile
    _patch_module(os, replacements)


# ------------------------------------------------------------- subprocess
def patch_subprocess():
    """Replace ``subprocess.Popen`` with one whose waits park only the caller.

    ``run``, ``call``, ``check_call`` and ``check_output`` create
    ``subprocess.Popen`` by module lookup, so they follow.
    """
    import subprocess
    from .green import subprocess as green_subprocess
    _patch_module(subprocess, {'Popen': green_subprocess.Popen})


# ----------------------------------------------------------------- signal
def patch_signal():
    """Run Python signal handlers in the main thread, as real threads do.

    Replaces ``signal.signal``, ``signal.getsignal`` and ``signal.pause``
    (see :mod:`greenthreads.green.signal`) and wraps the handlers already
    installed, so that a handler's exception comes out of what the main
    thread is waiting in and a handler may block (take a lock, sleep).
    """
    import signal
    from .green import signal as green_signal
    _patch_module(signal, {'signal': green_signal.signal, 'getsignal': green_signal.getsignal,
                           'pause': green_signal.pause})
    green_signal.rewrap_installed()


# ---------------------------------------------------------------- sqlite3
def patch_sqlite3():
    """Make ``sqlite3.connect`` give connections that wait for a locked database cooperatively.

    SQLite's busy handler sleeps in C; see :mod:`greenthreads.green.sqlite3`.
    Connections made before patching keep blocking.  Nothing happens on a
    Python built without ``sqlite3``.
    """
    try:
        import sqlite3
        import sqlite3.dbapi2
    except ImportError:      # pragma: no cover - built without _sqlite3
        return
    from .green import sqlite3 as green_sqlite3
    _patch_module(sqlite3, {'connect': green_sqlite3.connect})
    _patch_module(sqlite3.dbapi2, {'connect': green_sqlite3.connect})


# -------------------------------------------------------- multiprocessing
def patch_multiprocessing():
    """Make waiting for ``multiprocessing``'s locks and pipes park only the calling green thread.

    ``multiprocessing.synchronize.SemLock``, under every Lock, RLock,
    Semaphore, Condition, Event, Barrier, Queue and Pool, waits for a
    semaphore in a real thread (see :mod:`greenthreads.green.multiprocessing`),
    and ``multiprocessing.connection.Connection`` reads and writes its pipes
    with the green ``os.read``/``os.write`` even if it was imported before
    patching.  Each module is patched once it is imported: patching imports
    neither.  Nothing happens where multiprocessing has no semaphores.
    """
    try:
        from .green import multiprocessing as green_mp
    except ImportError:      # pragma: no cover - no sem_open on this platform
        return
    green_mp.when_imported('multiprocessing.synchronize', lambda module: _patch_module(
        module.SemLock, green_mp.SEMLOCK_METHODS))
    green_mp.when_imported('multiprocessing.connection', lambda module: _patch_module(
        module.Connection, green_mp.connection_methods(module.Connection)))


# ------------------------------------------------------------ late patching
class MonkeyPatchWarning(RuntimeWarning):
    """Patching came too late for some module: it kept a blocking original."""


_warned = set()
#: Packages that keep the originals on purpose (pytest times tests with the
#: real clock and sleep, whatever the code under test patches).
_KEEP_ORIGINALS = {'greenthreads', '_pytest', 'pytest', 'pytest_timeout', 'pytest_benchmark'}


def warn_about_early_copies():
    """Warn about modules that copied a name before it was patched (``from time import sleep``).

    Such a module keeps calling the blocking original, which stalls every
    green thread.  The standard library's own copies are handled by the
    patchers; this looks at everything else, ``__main__`` included (but not
    test runners, which keep the real clock and sleep on purpose).
    """
    originals = {}
    for (modname, name), value in _saved.items():
        module = sys.modules.get(modname)
        if (value is _MISSING or not callable(value) or isinstance(value, type(sys))
                or module is None or getattr(module, name, None) is value):
            continue
        originals[id(value)] = (value, f'{modname}.{name}')
    stdlib = getattr(sys, 'stdlib_module_names', ())
    found = []
    for modname, module in list(sys.modules.items()):
        top = modname.partition('.')[0]
        if module is None or top in stdlib or top in _KEEP_ORIGINALS:
            continue
        for name, value in list(getattr(module, '__dict__', {}).items()):
            hit = originals.get(id(value))
            if hit is not None and hit[0] is value and (modname, name) not in _warned:
                _warned.add((modname, name))
                found.append(f'{modname}.{name} (the original {hit[1]})')
    if found:
        import warnings
        warnings.warn(
            'greenthreads patched too late for these names, copied before patching; calls '
            'through them block every green thread: ' + ', '.join(sorted(found)) +
            '. Patch first: python -m greenthreads, or greenthreads.monkey.patch_all() '
            'before other imports.', MonkeyPatchWarning, stacklevel=3)


def patch_all(thread=True, time=True, socket=True, select=True, queue=True,
              subprocess=True, ssl=True, os=True, signal=True, sqlite3=True,
              multiprocessing=True):
    """Apply every patcher asked for (all by default); idempotent.

    Each keyword governs the modules of its patcher; a false one leaves them
    exactly as they were (every attribute, and every attribute of the classes
    they define), whatever the others patch:

    ``thread``: ``threading``, ``_thread``, ``_threading_local``, and the
    locks ``logging``, ``functools``, ``reprlib``, ``asyncio.base_futures``
    and ``concurrent.futures.thread`` made before patching;
    ``time``: ``time``; ``select``: ``select`` and ``selectors`` (as
    :func:`patch_select` alone: a selectors module left on epoll would block);
    ``socket``, ``queue``, ``subprocess``, ``ssl``, ``os``, ``signal``: the
    module of that name (``signal`` also the handlers already installed);
    ``sqlite3``: ``sqlite3`` and ``sqlite3.dbapi2``; ``multiprocessing``:
    ``multiprocessing.synchronize`` and ``multiprocessing.connection``, once
    imported.

    ``thread=True, time=False`` gives green threads with the real, blocking
    ``time.sleep`` (see :func:`patch_thread`).
    """
    if thread:
        _patch_threading()
    if time:
        patch_time()
    if socket:
        patch_socket()
    if select:
        patch_select()
    if queue:
        patch_queue()
    if subprocess:
        patch_subprocess()
    if ssl:
        patch_ssl()
    if os:
        patch_os()
    if signal:
        patch_signal()
    if sqlite3:
        patch_sqlite3()
    if multiprocessing:
        patch_multiprocessing()
    warn_about_early_copies()
    # The hub's descriptors (poller, wake-up pipe) are taken now, with the
    # interpreter's own, rather than at some first wait in the middle of the
    # program, where they would take numbers it just closed and leave holes
    # it does not expect (CPython's test_os finds no two consecutive fds).
    get_hub()
