"""Deterministic schedules and a virtual clock, for testing threaded code.

:func:`run` runs a function as a small closed world: in an OS thread of its
own, under a hub that picks which runnable green thread goes next with a
seeded random generator, so the same seed gives the same interleaving.
With the virtual clock, time stands still while any thread can run and
jumps to the next deadline when every thread waits on time: a test that
sleeps an hour takes no time.  With ``preempt=True`` a trace hook may also
switch threads between any two lines of user code, so races that never
block (check-then-act, read-modify-write) are tried too.  :func:`explore`
runs many seeds and raises :class:`ScheduleFailure` with the first seed
that fails; ``run(fn, seed=failure.seed, preempt=True)`` replays it.

With greenthreads installed, pytest explores so a test marked
``@pytest.mark.greenthreads_explore(runs=200)`` (the plugin is the top-level
module ``_greenthreads_pytest``, entry point ``greenthreads``).

The threads must be green: ``fn`` uses ``greenthreads`` (``import
greenthreads as threading``), or the process runs patched (``python -m
greenthreads -m pytest``, or ``greenthreads.monkey.patch_all()`` first).
Under the virtual clock, time moves only when nothing can run: a loop that
polls the clock while yielding (``sleep(0)``) never sees it move.
"""

import ctypes
import os
import random
import site
import sys
import sysconfig
import time

from greenlet import getcurrent

from . import _compat, _park
from ._hub import Hub, MAX_TIMEOUT, peek_hub, use_hub
from ._idle import declare_deadlock
from ._originals import real_allocate_lock, real_start_new_thread
from ._park import RESUME
from ._threads import Thread, _invoke_excepthook

__all__ = ['run', 'explore', 'ScheduleFailure', 'VirtualClock']

_real_monotonic = time.monotonic
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ScheduleFailure(AssertionError):
    """A schedule :func:`explore` tried failed.

    ``seed``: the seed that replays it (``run(fn, seed=seed, preempt=...)``);
    ``exception``: what the run raised (also the ``__cause__``).
    """

    def __init__(self, seed, exception, runs=None, preempt=True):
        self.seed = seed
        self.exception = exception
        tried = f'schedule {seed + 1} of {runs}' if runs else f'seed {seed}'
        super().__init__(
            f'{tried} failed: {type(exception).__name__}: {exception}\n'
            f'replay it with greenthreads.testing.run(fn, seed={seed}, preempt={preempt})')


# --------------------------------------------------------------- the clock
class VirtualClock:
    """The time a run sees: ``now`` on the monotonic scale, moved only by the run's hub.

    It starts at a whole second, and ``time.time()`` a whole number of
    seconds from it: a whole-second sleep then moves both by exactly that
    much (from 65281.413, 3600 s later is 3599.99999999999 later in floats).
    """
    __slots__ = ('now', 'wall_offset')

    def __init__(self):
        self.now = float(int(_real_monotonic()))
        self.wall_offset = float(int(time.time()) - int(self.now))


#: Every global of the package bound to ``time.monotonic`` (tests/test_testing.py
#: keeps this whole): during a run, each reads the run's clock in its OS thread.
_CLOCK_GLOBALS = {
    '_timers': '_monotonic', '_hub': '_monotonic', '_sync': '_monotonic', '_final': '_monotonic',
    'debug': '_monotonic', 'green.multiprocessing': '_monotonic', 'green.os': '_monotonic',
    'green.queue': '_time', 'green.select': '_monotonic', 'green.socket': '_monotonic',
    'green.sqlite3': '_monotonic', 'green.subprocess': '_monotonic',
}


def _in_a_run():
    return peek_hub().__class__ is _ScheduleHub


def _clock():
    """The calling OS thread's virtual clock, or None."""
    hub = peek_hub()
    return hub.clock if hub.__class__ is _ScheduleHub else None


def _time_functions(originals):
    """The ``time`` functions a run sees, each the original outside a run's OS thread."""
    def clock_function(name):
        original = originals[name]
        wall = name.startswith('time')     # time() and time_ns(): the wall clock's offset
        nanoseconds = name.endswith('_ns')

        def now():
            clock = _clock()
            if clock is None:
                return original()
            seconds = clock.now + clock.wall_offset if wall else clock.now
            return int(seconds * 1e9) if nanoseconds else seconds
        return now

    def sleep(*args, **kwargs):
        if _in_a_run():         # green, patched or not: the run is one OS thread
            return _park.sleep(*args, **kwargs)
        return originals['sleep'](*args, **kwargs)
    functions = {name: clock_function(name) for name in originals if name != 'sleep'}
    functions['sleep'] = sleep
    return functions


class _ClockPatch:
    """The time functions and clock globals, replaced while any run goes on."""

    def __init__(self):
        self.lock = real_allocate_lock()
        self.users = 0
        self.saved = []         # (namespace, name, original value)

    def __enter__(self):
        with self.lock:
            if self.users == 0:
                try:
                    self._install()
                except BaseException:
                    self._restore()
                    raise
            self.users += 1

    def __exit__(self, *exc):
        with self.lock:
            self.users -= 1
            if self.users == 0:
                self._restore()

    def _restore(self):
        for namespace, name, value in reversed(self.saved):
            setattr(namespace, name, value)
        self.saved.clear()

    def _install(self):
        originals = {name: getattr(time, name) for name in
                     ('monotonic', 'monotonic_ns', 'perf_counter', 'perf_counter_ns', 'time',
                      'time_ns', 'sleep')}
        functions = _time_functions(originals)
        targets = [(time, name, functions[name]) for name in originals]
        for module, name in _CLOCK_GLOBALS.items():
            loaded = sys.modules.get(f'{__package__}.{module}')
            if loaded is not None:
                targets.append((loaded, name, functions['monotonic']))
        for namespace, name, value in targets:
            self.saved.append((namespace, name, getattr(namespace, name)))
            setattr(namespace, name, value)


_clock_patch = _ClockPatch()


# ------------------------------------------------------------------ the hub
class _ScheduleHub(Hub):
    """A hub that runs one ready entry at a time, chosen by a seeded generator.

    Its world is closed: when nothing is ready, no timer is armed, no I/O is
    waited for and no job of its own is out in another OS thread, it is a
    deadlock, whatever other OS threads do.  With a clock, due timers are
    those at or before ``clock.now``, and an idle hub moves the clock to the
    next deadline instead of sleeping.
    """

    def __init__(self, rng, clock):
        super().__init__()
        self.rng = rng
        self.clock = clock
        self.threads = []       # every Thread started in this hub
        self.failures = []      # exceptions that ended one of them

    def spawn(self, func, arg=None):
        if isinstance(arg, Thread):
            self.threads.append(arg)
            arg._invoke_excepthook = self._thread_failed
        Hub.spawn(self, func, arg)

    def _thread_failed(self, thread):
        self.failures.append(sys.exc_info()[1])
        _invoke_excepthook(thread)

    def _now(self):
        return self.clock.now if self.clock is not None else _real_monotonic()

    def _loop(self):
        ready, timers, calls, poller = self.ready, self.timers, self.threadsafe_calls, self.poller
        while True:
            self.direct_budget = 0      # every switch comes back here, to be chosen
            self.turns += 1
            if calls:
                self.wakeup.pending = False
                while calls:
                    ready.append(calls.popleft())
            if timers.heap:
                timers.run_due(self._now())
            if poller.waiting:
                poller.poll(0.0)
            if ready:
                pick = self.rng.randrange(len(ready))
                ready.rotate(-pick)
                callback, arg = ready.popleft()
                ready.rotate(pick)
                callback(arg)
            elif timers.heap and (self.clock is None or not self.outside_refs):
                deadline = timers.next_deadline()
                if self.clock is not None:
                    self.clock.now = max(self.clock.now, deadline)
                else:
                    poller.poll(min(max(deadline - _real_monotonic(), 0.0), MAX_TIMEOUT))
            elif poller.waiting or self.outside_refs:
                # (A job out in another OS thread, a pool's: wait for it for
                # real before time moves on, or its caller's timeout would fire.)
                poller.poll(-1)
            else:
                declare_deadlock(self)


# ------------------------------------------------------------- preemption
if _compat.LEAVE_TRACING_API:
    _tstate = ctypes.pythonapi.PyThreadState_Get
    _tstate.restype = ctypes.c_void_p
    _leave = ctypes.pythonapi.PyThreadState_LeaveTracing
    _enter = ctypes.pythonapi.PyThreadState_EnterTracing
    _leave.argtypes = _enter.argtypes = [ctypes.c_void_p]

    def _leave_tracing():
        state = _tstate()
        _leave(state)
        return state

    def _enter_tracing(state):
        _enter(state)
else:
    class _CFrame(ctypes.Structure):
        _fields_ = [('use_tracing', ctypes.c_int)]

    class _TState(ctypes.Structure):       # the head of 3.10's PyThreadState
        _fields_ = [('prev', ctypes.c_void_p), ('next', ctypes.c_void_p),
                    ('interp', ctypes.c_void_p), ('frame', ctypes.c_void_p),
                    ('recursion_depth', ctypes.c_int), ('recursion_headroom', ctypes.c_int),
                    ('stackcheck_counter', ctypes.c_int), ('tracing', ctypes.c_int),
                    ('cframe', ctypes.POINTER(_CFrame)),
                    ('c_profilefunc', ctypes.c_void_p), ('c_tracefunc', ctypes.c_void_p)]

    _tstate = ctypes.pythonapi.PyThreadState_Get
    _tstate.restype = ctypes.POINTER(_TState)

    def _leave_tracing():
        # What ceval does as a trace function returns.
        state = _tstate().contents
        state.tracing -= 1
        state.cframe.contents.use_tracing = int(bool(state.c_tracefunc or state.c_profilefunc))
        return state

    def _enter_tracing(state):
        state.tracing += 1
        state.cframe.contents.use_tracing = 0


def _library_dirs():
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ('stdlib', 'platstdlib', 'purelib', 'platlib') if key in paths}
    dirs.update(getattr(site, 'getsitepackages', lambda: [])())
    dirs.add(_PACKAGE_DIR)
    return tuple(os.path.abspath(d) + os.sep for d in dirs)


def _is_user_code(filename, libraries):
    if filename.startswith('<frozen'):
        return False
    try:
        return not os.path.abspath(filename).startswith(libraries)
    except OSError:          # a relative name, and the working directory is gone
        return not filename.startswith(libraries)


class _Preempter:
    """The trace hook of a ``preempt=True`` run: before a line of user code, maybe switch.

    User code is any file outside the standard library, installed packages
    and this package.  A trace function runs with its OS thread's tracing
    turned off; a green thread switched out in one would leave every other
    green thread untraced, so tracing is turned back on across the switch.
    """

    def __init__(self, hub, rate):
        self.hub = hub
        self.rate = rate
        self.random = hub.rng.random
        self.user_code = {}         # code object -> traced or not
        self.libraries = _library_dirs()

    def trace(self, frame, event, arg):
        traced = self.user_code.get(frame.f_code)
        if traced is None:
            traced = self.user_code[frame.f_code] = _is_user_code(frame.f_code.co_filename,
                                                                  self.libraries)
        return self.line if traced else None

    def line(self, frame, event, arg):
        if event == 'line' and self.random() < self.rate:
            me = getcurrent()
            hub = self.hub
            if me is not hub.greenlet and (me is hub.main_glet or me.parent is hub.greenlet):
                hub.ready.append((RESUME, me))
                state = _leave_tracing()
                try:
                    hub.greenlet.switch()
                finally:
                    _enter_tracing(state)
        return self.line


#: Each ``preempt=True`` run draws how often it switches between lines: finely
#: interleaved runs and nearly serial ones find different races.
_PREEMPT_RATES = (0.5, 0.2, 0.05, 0.01)


# ------------------------------------------------------------------- runs
def run(fn, *, seed=0, virtual_clock=True, preempt=False):
    """Run ``fn()`` under a seeded schedule; return what it returns, raise what it raises.

    Every thread ``fn`` starts is joined before ``run`` returns (daemon ones
    are left parked); an exception that ends one of them is raised after
    ``fn`` returns (the first such, once each thread has been reported
    through ``threading.excepthook``).  When every thread is blocked and
    nothing can wake them, :class:`~greenthreads.DeadlockError` is raised.
    The same seed gives the same schedule, as long as ``fn`` itself is
    deterministic (no real I/O racing with the run, no other OS threads).
    ``virtual_clock=False`` keeps real time (timeouts then fire when they
    really expire).  See the module docstring for ``preempt``.
    """
    outcome = []
    done = real_allocate_lock()
    done.acquire()

    def body():
        try:
            outcome.append((True, _run_here(fn, seed, virtual_clock, preempt)))
        except BaseException as exc:     # noqa: B902 - handed to the caller
            outcome.append((False, exc))
        finally:
            done.release()
    real_start_new_thread(body, ())
    done.acquire()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _run_here(fn, seed, virtual_clock, preempt):
    rng = random.Random(seed)
    clock = VirtualClock() if virtual_clock else None
    hub = use_hub(_ScheduleHub(rng, clock))
    main = _RunMain(fn, hub, _Preempter(hub, rng.choice(_PREEMPT_RATES)) if preempt else None)
    with _clock_patch:
        main._bootstrap()       # as threading runs a thread, here in the root greenlet
    ok, value = main.outcome
    if not ok:
        raise value
    if hub.failures:
        raise hub.failures[0]
    return value


class _RunMain(Thread):
    """The main thread of a run: ``fn``, then a join of every thread started meanwhile.

    A Thread, so that ``current_thread()`` in ``fn`` is a non-daemon thread
    (whose threads are non-daemon too, as the main thread's are).
    """

    def __init__(self, fn, hub, preempter):
        super().__init__(name='testing.run', daemon=False)
        self.fn, self.hub, self.preempter = fn, hub, preempter
        self.outcome = (False, RuntimeError('the run did not end'))

    def run(self):
        try:
            if self.preempter is not None:
                sys.settrace(self.preempter.trace)
            try:
                value = self.fn()
                threads = self.hub.threads
                for thread in threads:          # (grows while we join)
                    if not thread.daemon:
                        thread.join()
            finally:
                sys.settrace(None)
            self.outcome = (True, value)
        except BaseException as exc:  # noqa: B902 - handed to run()'s caller
            self.outcome = (False, exc)


def explore(fn, *, runs=100, preempt=True, virtual_clock=True):
    """Run ``fn`` under ``runs`` schedules (seeds 0, 1, ...); raise on the first that fails.

    A failure (an exception from ``fn`` or one of its threads, a failed
    assertion, a deadlock) raises :class:`ScheduleFailure` with its
    ``seed`` and the original ``exception``.  Returns the number of runs.
    """
    if runs < 1:
        raise ValueError('runs must be at least 1')
    for seed in range(runs):
        try:
            run(fn, seed=seed, virtual_clock=virtual_clock, preempt=preempt)
        except Exception as exc:
            raise ScheduleFailure(seed, exc, runs, preempt) from exc
    return runs


# ----------------------------------------------------------- pytest plugin
def run_marked_test(pyfuncitem):
    """Run a test marked ``greenthreads_explore(...)`` under :func:`explore` (or ``seed=N``: :func:`run`).

    Called by the pytest plugin (the top-level module ``_greenthreads_pytest``,
    which imports this package only when a marked test runs).  The test's
    fixtures are made once and shared by every schedule.
    """
    marker = pyfuncitem.get_closest_marker('greenthreads_explore')
    options = dict(marker.kwargs)
    if marker.args:
        options.setdefault('runs', marker.args[0])
    seed = options.pop('seed', None)
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}

    def test():
        return pyfuncitem.obj(**kwargs)
    if seed is None:
        explore(test, **options)
    else:
        options.pop('runs', None)
        options.setdefault('preempt', True)
        try:
            run(test, seed=seed, **options)
        except Exception as exc:
            raise ScheduleFailure(seed, exc, None, options['preempt']) from exc
    return True

