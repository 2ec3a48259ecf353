"""Thread, Timer and the module-level thread functions of ``threading``.

A green thread is a greenlet whose parent is its OS thread's hub.  ``start()``
puts it on the hub's ready queue and returns at once (no round trip through
the hub as in CPython's ``Thread.start``, which waits for the new thread to
signal that it runs: ``ident``, ``native_id`` and ``is_alive()`` are already
final when ``start()`` returns).

Identity: a started Thread's ident is ``id(thread)``, unique while it lives;
a root greenlet reports its OS thread's ident (so the main thread keeps its
real one) and a raw greenlet not started here reports ``id(greenlet)``.
Threads run on pooled greenlets (:class:`~greenthreads._hub.Runner`), so the
greenlet is not the identity.  ``get_native_id()`` is the OS
thread's: every green thread of one OS thread shares it.

PYTEST_DONT_REWRITE: installing greenthreads registers a pytest plugin, and
pytest then rewrites the asserts of every module of the package; the asserts
here are CPython's own checks and must fail with CPython's messages.
"""

import itertools
import os
import sys
import warnings
import threading as _std_threading
import weakref
import _thread

from contextvars import Context
from greenlet import getcurrent, settrace as _greenlet_settrace, gettrace as _greenlet_gettrace

from ._compat import (START_JOINABLE_THREAD, JOIN_CHECKS_TIMEOUT_WHEN_DONE, DUMMY_THREAD_RAISES,
                      DUMMY_THREADS_FORGOTTEN)
from ._hub import get_hub, peek_hub, Runner, ident_of, new_hub_hooks
from ._originals import real_get_ident as _real_get_ident, real_allocate_lock as _real_allocate_lock, \
    real_get_native_id as _real_native_id
from ._locks import check_acquire_args, lazy_queue
from ._park import WaitQueue, PENDING, waiter_of, cancel_after_fork
from ._sync import Event

__all__ = ['Thread', 'Timer', 'current_thread', 'main_thread', 'enumerate', 'active_count',
           'get_ident', 'get_native_id', 'excepthook', '__excepthook__', 'ExceptHookArgs',
           'settrace', 'setprofile', 'gettrace', 'getprofile', 'stack_size', 'TIMEOUT_MAX',
           'ThreadError', 'currentThread', 'activeCount']

# An interpreter may forbid daemon threads (3.12); before, every one allowed them.
_daemon_threads_allowed = getattr(_thread, 'daemon_threads_allowed', lambda: True)

TIMEOUT_MAX = _thread.TIMEOUT_MAX
ThreadError = _thread.error
# The stdlib's hook and its argument type: generic over any thread object.
ExceptHookArgs = _std_threading.ExceptHookArgs
excepthook = __excepthook__ = _std_threading.__excepthook__

#: ident -> Thread for every live thread: started green threads, the main
#: thread, and dummies for greenlets/OS threads not started by us.
_active = {}
#: Non-daemon 3.13 thread handles of stdlib Thread objects started through
#: _thread.start_joinable_thread; the exit hook joins them with our own
#: non-daemon threads (which it finds in _active).
_nondaemon = {}


class _Live:
    """How many green threads started by Thread or ``_thread`` are running (``_thread._count()``)."""
    __slots__ = ('count',)

    def __init__(self):
        self.count = 0


_live = _Live()

#: Callables run with a green thread's greenlet when the thread finishes:
#: what rooms above keep per thread goes with it (``local`` values), and a
#: pooled runner greenlet starts its next thread clean.
thread_end_hooks = []
_counter = itertools.count(1).__next__
#: Where default thread names are numbered: this module, or under the patch
#: the stdlib threading module (whose ``_counter`` code and tests may replace).
_names = sys.modules[__name__]


def get_ident():
    """Return the current green thread's identifier (a nonzero integer)."""
    g = getcurrent()
    if g.__class__ is Runner:
        return g.ident
    if g.parent is None:
        return _real_get_ident()
    return id(g)


def get_native_id():
    """Return the OS thread's native id (shared by all its green threads)."""
    return _real_native_id()


def current_thread():
    """Return the Thread object of the calling green thread.

    Code not started through this module gets a dummy thread object.
    """
    g = getcurrent()
    if g.__class__ is Runner:
        thread = g.thread
        if thread is None:
            # Started by _thread.start_new_thread: a stdlib Thread subclass may
            # have registered itself under our ident; otherwise, a dummy.
            thread = _active.get(g.ident)
            if thread is None:
                thread = _DummyThread(g)
            g.thread = thread
        return thread
    try:
        return _active[_real_get_ident() if g.parent is None else id(g)]
    except KeyError:
        return _DummyThread(g)


def currentThread():
    """Deprecated alias of :func:`current_thread`."""
    warnings.warn('currentThread() is deprecated, use current_thread() instead',
                  DeprecationWarning, stacklevel=2)
    return current_thread()


def main_thread():
    """Return the main thread object (the OS main thread's root greenlet)."""
    return _main_thread


def enumerate():
    """Return a list of all live Thread objects (including dummies and the main thread)."""
    return list(_active.values())


def active_count():
    """Return the number of live Thread objects: ``len(enumerate())``."""
    return len(_active)


def activeCount():
    """Deprecated alias of :func:`active_count`."""
    warnings.warn('activeCount() is deprecated, use active_count() instead',
                  DeprecationWarning, stacklevel=2)
    return active_count()


#: ``stack_size([size])``: return (and with ``size``, set) the stack size for
#: new real OS threads, such as the thread pool's.  Green threads need none
#: (greenlet stacks grow on demand).  It is the real ``_thread.stack_size``,
#: captured before any patch, so that its signature, its argument checks
#: and their messages ("takes no keyword arguments") are the stdlib's.
stack_size = _thread.stack_size


# ------------------------------------------------------------ trace/profile
_trace_hook = None
_profile_hook = None


def settrace(func):
    """Set a trace function for every green thread started after this call."""
    global _trace_hook
    _trace_hook = func
    if func is not None:
        _PerThreadTracing.enable()


def gettrace():
    """Return the trace function set by :func:`settrace`."""
    return _trace_hook


def setprofile(func):
    """Set a profile function for every green thread started after this call."""
    global _profile_hook
    _profile_hook = func
    if func is not None:
        _PerThreadTracing.enable()


def getprofile():
    """Return the profile function set by :func:`setprofile`."""
    return _profile_hook


def settrace_all_threads(func):
    """Set a trace function for all threads: new ones and those already running."""
    settrace(func)
    _PerThreadTracing.set_everywhere(0, func)


def setprofile_all_threads(func):
    """Set a profile function for all threads: new ones and those already running."""
    setprofile(func)
    _PerThreadTracing.set_everywhere(1, func)


class _PerThreadTracing:
    """Keep ``sys.settrace``/``sys.setprofile`` per green thread, as CPython keeps them per OS thread.

    The interpreter keeps one trace and one profile function per OS thread, so
    without help a tracer set in one green thread would run in all of them.
    Once enabled, a greenlet switch hook saves the outgoing greenlet's pair
    and installs the incoming one's (none if it never set one).  It costs a
    Python call per switch, so it is only enabled once tracing is in use:
    ``settrace``/``setprofile`` here, or a tracer already active when a hub starts.
    """
    enabled = False

    @classmethod
    def enable(cls):
        if not cls.enabled:
            cls.enabled = True
            new_hub_hooks.append(cls._install)
        cls._install()

    @classmethod
    def _install(cls, hub=None):
        prev = _greenlet_gettrace()
        if getattr(prev, '_gt_switch_hook', False):
            return
        _sys_gettrace, _sys_getprofile = sys.gettrace, sys.getprofile
        _sys_settrace, _sys_setprofile = sys.settrace, sys.setprofile

        def switch_hook(event, args):
            if event == 'switch' or event == 'throw':
                origin, target = args
                origin._gt_tracing = (_sys_gettrace(), _sys_getprofile())
                trace, profile = getattr(target, '_gt_tracing', (None, None))
                _sys_settrace(trace)
                _sys_setprofile(profile)
            if prev is not None:
                prev(event, args)
        switch_hook._gt_switch_hook = True
        _greenlet_settrace(switch_hook)

    @classmethod
    def set_everywhere(cls, which, func):
        cls.enable()
        (sys.settrace, sys.setprofile)[which](func)
        me = getcurrent()
        for t in list(_active.values()):
            g = t._greenlet
            if g is None or g is me or g.dead:
                continue
            pair = list(getattr(g, '_gt_tracing', (None, None)))
            pair[which] = func
            g._gt_tracing = tuple(pair)


# --------------------------------------------------------------- excepthook
_orig_sys_excepthook = sys.excepthook
#: Modules whose ``excepthook`` attribute a user may replace (the monkey
#: patcher adds ``threading``); the first one not holding the default wins.
_excepthook_modules = []


def _current_excepthook():
    for mod in _excepthook_modules:
        hook = getattr(mod, 'excepthook', None)
        if hook is not None and hook is not __excepthook__:
            return hook
    return __excepthook__


def _invoke_excepthook(thread):
    """Report the exception being handled in ``thread`` through ``threading.excepthook``."""
    try:
        hook = _current_excepthook()
        args = ExceptHookArgs([*sys.exc_info(), thread])
        hook(args)
    except Exception as exc:
        exc.__suppress_context__ = True
        del exc
        stderr = sys.stderr if sys.stderr is not None else thread._stderr
        print('Exception in threading.excepthook:', file=stderr, flush=True)
        sys_excepthook = sys.excepthook if sys.excepthook is not None else _orig_sys_excepthook
        sys_excepthook(*sys.exc_info())
    finally:
        args = None


# ------------------------------------------------------------------ Thread
#: Under the patch: threading's namespace, the name of its private thread
#: starter (``_start_new_thread``; ``_start_joinable_thread`` on 3.13) and
#: the function the patch put there.  Thread.start() goes through whatever
#: replaced that function since (see set_patched_starter).
_starter_namespace = _starter_name = _starter_ours = None


def set_patched_starter(module, name):
    """Called by the patch: ``module.name`` is now our starter; watch it for replacements."""
    global _starter_namespace, _starter_name, _starter_ours
    _starter_name, _starter_ours = name, getattr(module, name)
    _starter_namespace = module.__dict__

# A thread's start state is one of two shared markers (no Event per thread:
# a million threads is the point); Thread._started shows it as an Event.
_NOT_STARTED = object()
_STARTED = object()


# Retries of the waits below (see WaitQueue.wait), called with the waited-for
# thread: what happened meanwhile in another OS thread ends the wait at once.
def _started_meanwhile(thread):
    return True if thread._start_state is _STARTED else PENDING


def finished_meanwhile(thread):
    """The retry of a join: True if ``thread`` (anything with ``_done``) finished meanwhile."""
    return True if thread._done else PENDING


class _StartedView:
    """``Thread._started`` as CPython has it (an Event), made on access."""
    __slots__ = ('_thread',)

    def __init__(self, thread):
        self._thread = thread

    def is_set(self):
        return self._thread._start_state is _STARTED

    def wait(self, timeout=None):
        # start() never returns before the thread is started: nothing to wait for.
        return self.is_set()

    def set(self):
        self._thread._start_state = _STARTED

    def clear(self):
        self._thread._start_state = _NOT_STARTED


class Thread:
    """A thread of control, run as a green thread on the calling OS thread's hub.

    Same constructor, methods and properties as ``threading.Thread``:
    override :meth:`run` or pass ``target``; :meth:`start` once; :meth:`join`
    blocks (only the calling green thread) until the thread is done.
    """

    # Slots keep a sleeping thread small (a million of them is the point);
    # '__dict__' still lets users and subclasses add attributes.
    __slots__ = ('_target', '_name', '_args', '_kwargs', '_daemonic', '_ident', '_native_id',
                 '_start_state', '_done', '_greenlet', '_joiners', '_init_done', '_stderr',
                 '_trace_profile', '__dict__', '__weakref__')

    @property
    def _started(self):
        return _StartedView(self)

    @property
    def _initialized(self):
        # False until Thread.__init__ ran (a subclass may forget to call it).
        try:
            return self._init_done
        except AttributeError:
            return False

    def __init__(self, group=None, target=None, name=None,
                 args=(), kwargs=None, *, daemon=None):
        assert group is None, 'group argument must be None for now'
        if kwargs is None:
            kwargs = {}
        if name:
            name = str(name)
        else:
            name = 'Thread-%d' % _names._counter()
            if target is not None:
                try:
                    name += f' ({target.__name__})'
                except AttributeError:
                    pass
        self._target = target
        self._name = name
        self._args = args
        self._kwargs = kwargs
        if daemon is not None:
            if daemon and not _daemon_threads_allowed():
                raise RuntimeError('daemon threads are disabled in this (sub)interpreter')
            self._daemonic = daemon
        else:
            self._daemonic = current_thread().daemon
        self._ident = None
        self._native_id = None
        self._start_state = _NOT_STARTED
        self._done = False
        self._greenlet = None
        self._joiners = None
        self._trace_profile = None
        self._init_done = True
        self._stderr = sys.stderr

    _invoke_excepthook = staticmethod(_invoke_excepthook)

    def __repr__(self):
        assert self._initialized, 'Thread.__init__() was not called'
        status = 'initial'
        if self._start_state is _STARTED:
            status = 'started'
        if self._done:
            status = 'stopped'
        if self._daemonic:
            status += ' daemon'
        if self._ident is not None:
            status += ' %s' % self._ident
        return '<%s(%s, %s)>' % (self.__class__.__name__, self._name, status)

    def start(self):
        """Start the thread; it runs when the calling green thread next blocks or yields.

        RuntimeError if called more than once.
        """
        if not self._initialized:
            raise RuntimeError('thread.__init__() not called')
        if self._start_state is _STARTED:
            raise RuntimeError('threads can only be started once')
        if _trace_hook is not None or _profile_hook is not None:
            # Hooks in force at start() apply, as in CPython (where the new
            # thread is already running when start() returns).
            self._trace_profile = (_trace_hook, _profile_hook)
        if _starter_namespace is not None and \
                _starter_namespace.get(_starter_name) is not _starter_ours:
            return self._start_through(_starter_namespace.get(_starter_name))
        hub = get_hub()
        self._ident = ident = id(self)
        self._native_id = _real_native_id()
        self._start_state = _STARTED
        _active[ident] = self
        _live.count += 1
        if not self._daemonic and not _exit_hook_registered:
            _register_exit_hook()
        hub.spawn(_run_thread, self)

    def run(self):
        """The thread's activity: call ``target(*args, **kwargs)``.  Override freely."""
        try:
            target = self._target
            if target is not None:
                args = self._args
                kwargs = self._kwargs
                # Only a dict may skip the ** (which rejects anything but a mapping).
                if kwargs.__class__ is dict and not kwargs and args.__class__ is tuple \
                        and len(args) < 2:
                    # A plain call runs in the same C-level interpreter frame
                    # (f(*a, **k) nests one more): less to save and restore on
                    # every switch, and less memory per parked thread.
                    if args:
                        target(args[0])
                    else:
                        target()
                else:
                    target(*args, **kwargs)
        finally:
            # Avoid a refcycle if the target's arguments refer to the thread.
            del self._target, self._args, self._kwargs

    def _start_through(self, starter):
        # Code replaced threading's private thread starter (a debugger that
        # wraps new threads, a test): call it as CPython's start() does, and
        # as there, wait until the thread it started runs _bootstrap.
        queue = self.__dict__['_gt_start_waiters'] = WaitQueue()
        try:
            if START_JOINABLE_THREAD:
                starter(self._bootstrap, daemon=self.daemon)
            else:
                starter(self._bootstrap, ())
        except BaseException:
            del self.__dict__['_gt_start_waiters']
            raise
        # It may have started a real OS thread, which will call in: not a deadlock.
        hub = get_hub()
        hub.outside_refs += 1
        try:
            queue.wait(_started_meanwhile, None, self)
        finally:
            hub.outside_refs -= 1

    def _adopt_current(self):
        """Become the thread the calling thread (started by the replaced starter) runs."""
        g = getcurrent()
        if g.__class__ is Runner:
            g.thread = self
            ident = g.ident
        else:
            ident = ident_of(g)     # the replacement started a real OS thread
        self._greenlet = g
        self._ident = ident
        self._native_id = _real_native_id()
        self._gt_adopted = True     # counted in _live by whoever started it, not by us
        _active[ident] = self
        if not self._daemonic and not _exit_hook_registered:
            _register_exit_hook()
        queue = self.__dict__.pop('_gt_start_waiters', None)
        if queue is None:
            self._start_state = _STARTED
        else:
            with queue.mutex:
                self._start_state = _STARTED
                queue.wake_all()

    def _bootstrap(self):
        if self._start_state is not _STARTED:
            self._adopt_current()   # started through a replaced starter (see start())
        interrupt = None
        try:
            if self._trace_profile is not None:
                trace, profile = self._trace_profile
                if trace is not None:
                    sys.settrace(trace)
                if profile is not None:
                    sys.setprofile(profile)
            try:
                self.run()
            except KeyboardInterrupt as exc:
                # Ctrl-C lands in whichever green thread runs; it is meant for
                # the main thread, where CPython would raise it.
                interrupt = exc
            except BaseException:
                self._invoke_excepthook(self)
        finally:
            self._finish()
        if interrupt is not None:
            raise interrupt  # to the hub, which throws it into the main thread

    def _finish(self):
        self._done = True
        if '_gt_adopted' not in self.__dict__:
            _live.count -= 1
        _active.pop(self._ident, None)
        g = self._greenlet
        self._greenlet = None
        if g is not None:
            for forget in thread_end_hooks:
                forget(g)
        joiners = self._joiners
        if joiners is not None:
            joiners.wake_all()
        if _PerThreadTracing.enabled:
            sys.settrace(None)
            sys.setprofile(None)

    def join(self, timeout=None):
        """Wait until the thread terminates, or until ``timeout`` seconds pass.

        Always returns None: call :meth:`is_alive` to learn whether it timed out.
        """
        if not self._initialized:
            raise RuntimeError('Thread.__init__() not called')
        if self._start_state is not _STARTED:
            raise RuntimeError('cannot join thread before it is started')
        if self is current_thread():
            raise RuntimeError('cannot join current thread')
        if timeout is not None:
            # Historically a negative timeout acts as 0.
            timeout = max(timeout, 0)
            if JOIN_CHECKS_TIMEOUT_WHEN_DONE or not self._done:
                timeout = check_acquire_args(True, timeout)
        if self._done or (timeout is not None and timeout <= 0):
            return
        lazy_queue(self, '_joiners').wait(finished_meanwhile, timeout, self)

    @property
    def name(self):
        """A string used for identification purposes only."""
        assert self._initialized, 'Thread.__init__() not called'
        return self._name

    @name.setter
    def name(self, name):
        assert self._initialized, 'Thread.__init__() not called'
        self._name = str(name)

    @property
    def ident(self):
        """Thread identifier of this thread, or None if it has not been started."""
        assert self._initialized, 'Thread.__init__() not called'
        return self._ident

    @property
    def native_id(self):
        """Native (OS) thread id, or None if not started; shared by the OS thread's green threads."""
        assert self._initialized, 'Thread.__init__() not called'
        return self._native_id

    def _set_native_id(self):
        # CPython's private, called by multiprocessing in a forked child.
        self._native_id = _real_native_id()

    def is_alive(self):
        """Return whether the thread is alive: from start() until run() has returned."""
        assert self._initialized, 'Thread.__init__() not called'
        return self._start_state is _STARTED and not self._done

    @property
    def daemon(self):
        """Whether this is a daemon thread (must be set before start())."""
        assert self._initialized, 'Thread.__init__() not called'
        return self._daemonic

    @daemon.setter
    def daemon(self, daemonic):
        if not self._initialized:
            raise RuntimeError('Thread.__init__() not called')
        if daemonic and not _daemon_threads_allowed():
            raise RuntimeError('daemon threads are disabled in this interpreter')
        if self._start_state is _STARTED:
            raise RuntimeError('cannot set daemon status of active thread')
        self._daemonic = daemonic

    # -- called by CPython's threading._after_fork under the monkey patch;
    #    the real work is done by _after_fork_in_child.
    def _reset_internal_locks(self, is_alive):
        if not is_alive:
            self._done = True

    def _stop(self):
        self._done = True

    def _after_fork(self, new_ident=None):
        if new_ident is None:
            self._done = True

    def isDaemon(self):
        """Deprecated: use the ``daemon`` attribute."""
        warnings.warn('isDaemon() is deprecated, get the daemon attribute instead',
                      DeprecationWarning, stacklevel=2)
        return self.daemon

    def setDaemon(self, daemonic):
        """Deprecated: set the ``daemon`` attribute."""
        warnings.warn('setDaemon() is deprecated, set the daemon attribute instead',
                      DeprecationWarning, stacklevel=2)
        self.daemon = daemonic

    def getName(self):
        """Deprecated: use the ``name`` attribute."""
        warnings.warn('getName() is deprecated, get the name attribute instead',
                      DeprecationWarning, stacklevel=2)
        return self.name

    def setName(self, name):
        """Deprecated: set the ``name`` attribute."""
        warnings.warn('setName() is deprecated, set the name attribute instead',
                      DeprecationWarning, stacklevel=2)
        self.name = name


def _run_thread(thread):
    # Runs in a pooled greenlet; a fresh context per thread, as in CPython.
    # (Assigning gr_context, not Context().run(), saves a C-level frame on
    # every parked thread's saved stack.)
    g = getcurrent()
    g.ident = thread._ident
    g.thread = thread
    g.gr_context = Context()
    thread._greenlet = g
    thread._bootstrap()


class Timer(Thread):
    """Call ``function(*args, **kwargs)`` after ``interval`` seconds, unless cancelled.

        t = Timer(30.0, f, args=None, kwargs=None)
        t.start()
        t.cancel()     # stop the timer's action if it's still waiting
    """

    def __init__(self, interval, function, args=None, kwargs=None):
        Thread.__init__(self)
        self.interval = interval
        self.function = function
        self.args = args if args is not None else []
        self.kwargs = kwargs if kwargs is not None else {}
        self.finished = Event()

    def cancel(self):
        """Stop the timer if it hasn't finished yet."""
        self.finished.set()

    def run(self):
        self.finished.wait(self.interval)
        if not self.finished.is_set():
            self.function(*self.args, **self.kwargs)
        self.finished.set()


class _MainThread(Thread):
    """The process's main thread: the main OS thread's root greenlet."""

    def __init__(self):
        std_main = _std_threading.main_thread()
        Thread.__init__(self, name='MainThread', daemon=False)
        self._start_state = _STARTED
        self._ident = std_main.ident
        self._native_id = std_main.native_id
        g = getcurrent()
        if _real_get_ident() == std_main.ident:
            while g.parent is not None:
                g = g.parent
            self._greenlet = g
        _active[self._ident] = self


class _DummyThread(Thread):
    """Stands for a greenlet or OS thread that was not started through this module.

    Removed from ``enumerate()`` when its greenlet is freed.
    """

    def __init__(self, glet):
        Thread.__init__(self, name='Dummy-%d' % _names._counter(),
                        daemon=_daemon_threads_allowed())
        self._start_state = _STARTED
        self._ident = ident = ident_of(glet)
        self._native_id = _real_native_id()
        # A pooled runner outlives the job it runs: _forget_dummy_of ends the
        # dummy with the job; any other greenlet ends it by being freed.
        callback = None if glet.__class__ is Runner else \
            (lambda _, ident=ident, me=weakref.ref(self): _forget(ident, me))
        self._glet_ref = weakref.ref(glet, callback)
        _active[ident] = self

    @property
    def _greenlet(self):
        # Weak: the dummy must not keep a finished greenlet alive.
        ref = self.__dict__.get('_glet_ref')
        return ref() if ref is not None else None

    @_greenlet.setter
    def _greenlet(self, value):
        pass

    def is_alive(self):
        g = self._greenlet
        alive = self._start_state is _STARTED and not self._done and (
            self.__dict__.get('_immortal') or (g is not None and not g.dead))
        if DUMMY_THREAD_RAISES and not alive:
            raise RuntimeError('thread is not alive')
        assert alive
        return True

    def join(self, timeout=None):
        if DUMMY_THREAD_RAISES:
            raise RuntimeError('cannot join a dummy thread')
        assert False, 'cannot join a dummy thread'


def _forget(ident, ref):
    thread = ref()
    if thread is not None and _active.get(ident) is thread:
        del _active[ident]
        thread._done = True


def _forget_dummy_of(runner, ident):
    """End the dummy Thread that stood for a raw job on ``runner``, if one was made.

    Before 3.13 CPython never removes the dummy of a ``_thread`` thread: it
    stays in ``enumerate()`` and alive for ever (its own tests rely on that),
    so there the dummy is only detached from the runner, which runs other jobs.
    """
    thread = runner.thread
    runner.thread = None
    if isinstance(thread, _DummyThread):
        if not DUMMY_THREADS_FORGOTTEN:
            thread._immortal = True
            return
        thread._done = True
        if _active.get(ident) is thread:
            del _active[ident]


_main_thread = _MainThread()


# ------------------------------------------------------------------- exit
_exit_hook_registered = False


def _register_exit_hook():
    """Run :func:`_shutdown` from ``threading._shutdown``, like real non-daemon threads."""
    global _exit_hook_registered
    if _exit_hook_registered:
        return
    _exit_hook_registered = True
    try:
        _std_threading._register_atexit(_shutdown)
    except RuntimeError:
        # Already shutting down: our hook (if any) is running and will see
        # this thread in _active.
        pass


def _shutdown():
    """Mark the main thread done, then join every non-daemon green thread.

    Threads started meanwhile are joined too; daemon threads are abandoned.
    """
    main = _main_thread
    if _real_get_ident() != main._ident:
        return
    main._done = True
    joiners = main._joiners
    if joiners is not None:
        joiners.wake_all()
    while True:
        # One pass over a snapshot per round: threads started meanwhile are
        # found by the next round.
        pending = [t for t in list(_active.values())
                   if not t._daemonic and t is not main and not t._done] + list(_nondaemon)
        if not pending:
            return
        try:
            for thread in pending:
                thread.join()
        except Exception as exc:
            # A deadlock among the threads left: say so and stop waiting
            # (CPython would hang here for ever).
            print('greenthreads: non-daemon threads cannot finish at exit:\n%s' % (exc,),
                  file=sys.stderr, flush=True)
            _nondaemon.clear()
            return


# ------------------------------------------------------------------- fork
#: Greenlets of threads that did not survive a fork: kept, never run, never
#: collected (collecting one would run its finally blocks in the child).
_fork_graveyard = []


_before_fork_threads = []
_STD_MAIN_THREAD = _std_threading._main_thread   # CPython's own object, before any patch


def _before_fork():
    # Under the monkey patch CPython's threading._after_fork runs first in the
    # child and empties _active: remember who was there.
    _before_fork_threads[:] = _active.values()


def _after_fork_in_child():
    """POSIX fork semantics: only the forking green thread lives on, on a fresh hub."""
    hub = peek_hub()
    if hub is not None:
        hub.reinit_after_fork()
    me = getcurrent()
    threads = set(_before_fork_threads) | set(_active.values())
    _before_fork_threads.clear()
    if me.parent is None and _real_get_ident() == _STD_MAIN_THREAD.ident:
        _restore_std_main_thread()
    elif me.parent is not None:
        # As CPython: in the child the forking thread is the main thread.
        global _main_thread
        _main_thread = current_thread()
    for thread in threads:
        g = thread._greenlet
        if g is me:
            continue
        if g is not None and not g.dead:
            waiter = waiter_of(g)
            if waiter is not None:
                cancel_after_fork(waiter)
            _fork_graveyard.append(g)
        thread._done = True
        _active.pop(thread._ident, None)
    _nondaemon.clear()
    _live.count = 0 if me.parent is None else 1


def _restore_std_main_thread():
    """Undo what CPython's own after-fork handler did to its main thread under the patch.

    Forking from the main thread keeps it the main thread; CPython's handler
    (which ran first and met our Thread objects in the patched _active) made
    ours the main thread and stopped its own, which its exit code still needs.
    """
    std_main = _STD_MAIN_THREAD
    if _std_threading._main_thread is std_main:
        return
    _std_threading._main_thread = std_main
    if getattr(std_main, '_is_stopped', False):          # 3.10-3.12
        lock = _real_allocate_lock()
        lock.acquire()
        std_main._tstate_lock = lock
        std_main._is_stopped = False


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _on_new_hub(hub):
    if sys.gettrace() is not None or sys.getprofile() is not None:
        _PerThreadTracing.enable()


new_hub_hooks.append(_on_new_hub)
