"""_threads: Thread, Timer and the module functions: the same signatures, results and errors
as stdlib threading.

Tests taking the ``mod`` fixture run twice, against ``threading`` and against
``greenthreads``: the stdlib run proves the assertion is CPython's behaviour.
"""

import contextvars
import inspect
import subprocess
import sys
import threading
import time
import warnings

import pytest

import greenthreads
from greenthreads import sleep as green_sleep


# ------------------------------------------------------------------ surface
# (The package's names, __all__ and shared types: test_init.py; the signatures
# of Condition, Semaphore, Event and Barrier: test_sync.py.)
@pytest.mark.parametrize('name', ['Thread', 'Timer'])
def test_constructor_signatures_match(name):
    ours = inspect.signature(getattr(greenthreads, name))
    theirs = inspect.signature(getattr(threading, name))
    assert ours == theirs


@pytest.mark.parametrize('meth', ['start', 'run', 'join', 'is_alive', 'getName', 'setName',
                                  'isDaemon', 'setDaemon'])
def test_thread_method_signatures_match(meth):
    assert inspect.signature(getattr(greenthreads.Thread, meth)) == \
        inspect.signature(getattr(threading.Thread, meth))


@pytest.mark.parametrize('func', ['get_ident', 'get_native_id'])
def test_builtin_functions_take_no_arguments(mod, func):
    with pytest.raises(TypeError):
        getattr(mod, func)(1)


@pytest.mark.parametrize('func', ['current_thread', 'main_thread', 'enumerate', 'active_count',
                                  'settrace', 'setprofile',
                                  'gettrace', 'getprofile', 'currentThread', 'activeCount'])
def test_function_signatures_match(func):
    assert inspect.signature(getattr(greenthreads, func)) == \
        inspect.signature(getattr(threading, func))


# ---------------------------------------------------------------- lifecycle
def test_target_args_kwargs_and_name(mod):
    out = []
    t = mod.Thread(target=lambda a, b=0: out.append((a, b, mod.current_thread().name)),
                   name='w1', args=(1,), kwargs={'b': 2})
    assert t.name == 'w1' and t.ident is None and t.native_id is None
    assert not t.is_alive()
    t.start()
    assert t.is_alive() or out      # stdlib may have finished already
    assert t.ident is not None and t.native_id is not None
    assert t.join() is None
    assert not t.is_alive()
    assert out == [(1, 2, 'w1')]


def test_default_names(mod):
    def target():
        pass
    t = mod.Thread(target=target)
    assert t.name.startswith('Thread-') and t.name.endswith(' (target)')
    assert mod.Thread().name.startswith('Thread-')
    assert mod.Thread(name=42).name == '42'


def test_run_override_in_subclass(mod):
    class T(mod.Thread):
        def run(self):
            self.result = mod.current_thread() is self
    t = T()
    t.start()
    t.join()
    assert t.result is True


def test_repr_states(mod):
    ev = mod.Event()
    t = mod.Thread(target=ev.wait, name='r', daemon=True)
    assert repr(t) == '<Thread(r, initial daemon)>'
    t.start()
    assert repr(t) == f'<Thread(r, started daemon {t.ident})>'
    ev.set()
    t.join()
    assert repr(t) == f'<Thread(r, stopped daemon {t.ident})>'


def test_join_timeout_returns_none_and_thread_stays_alive(mod):
    ev = mod.Event()
    t = mod.Thread(target=ev.wait)
    t.start()
    t0 = time.monotonic()
    assert t.join(0.05) is None
    assert time.monotonic() - t0 >= 0.04
    assert t.is_alive()
    t.join(-1)      # negative acts as 0
    assert t.is_alive()
    ev.set()
    t.join()
    assert not t.is_alive()


def test_join_many_times_and_from_many_threads(mod):
    ev = mod.Event()
    target = mod.Thread(target=ev.wait)
    target.start()
    joined = []

    def joiner(i):
        target.join()
        joined.append(i)
    joiners = [mod.Thread(target=joiner, args=(i,)) for i in range(5)]
    for j in joiners:
        j.start()
    ev.set()
    for j in joiners:
        j.join()
    target.join()
    target.join()
    assert sorted(joined) == list(range(5))


def test_join_a_green_thread_from_a_real_os_thread():
    ev = greenthreads.Event()
    green = greenthreads.Thread(target=ev.wait)
    green.start()
    joined = []
    os_thread = threading.Thread(target=lambda: (green.join(10), joined.append(green.is_alive())))
    os_thread.start()
    greenthreads.sleep(0.05)
    assert joined == []
    ev.set()
    green.join()
    os_thread.join(10)
    assert joined == [False]


def test_daemon_default_inherited(mod):
    assert mod.Thread().daemon is False
    out = []

    def spawn_child():
        out.append(mod.Thread().daemon)
    t = mod.Thread(target=spawn_child, daemon=True)
    t.start()
    t.join()
    assert out == [True]
    assert mod.Thread(daemon=True).daemon is True


def test_deprecated_camelcase_aliases_warn(mod):
    t = mod.Thread(name='a')
    with pytest.warns(DeprecationWarning, match='getName'):
        assert t.getName() == 'a'
    with pytest.warns(DeprecationWarning, match='setName'):
        t.setName('b')
    assert t.name == 'b'
    with pytest.warns(DeprecationWarning, match='isDaemon'):
        assert t.isDaemon() is False
    with pytest.warns(DeprecationWarning, match='setDaemon'):
        t.setDaemon(True)
    assert t.daemon is True
    with pytest.warns(DeprecationWarning, match='currentThread'):
        assert mod.currentThread() is mod.current_thread()
    with pytest.warns(DeprecationWarning, match='activeCount'):
        assert mod.activeCount() == mod.active_count()


# ----------------------------------------------------------------- bad input
def _error(fn):
    try:
        fn()
    except BaseException as exc:
        return type(exc), str(exc)
    return None


def test_start_twice(mod):
    t = mod.Thread(target=lambda: None)
    t.start()
    assert _error(t.start) == (RuntimeError, 'threads can only be started once')
    t.join()


def test_join_before_start(mod):
    assert _error(mod.Thread().join) == (RuntimeError, 'cannot join thread before it is started')


def test_join_current_thread(mod):
    out = []
    t = mod.Thread(target=lambda: out.append(_error(mod.current_thread().join)))
    t.start()
    t.join()
    assert out == [(RuntimeError, 'cannot join current thread')]
    assert _error(mod.main_thread().join) == (RuntimeError, 'cannot join current thread')


def test_set_daemon_after_start(mod):
    ev = mod.Event()
    t = mod.Thread(target=ev.wait)
    t.start()

    def set_daemon():
        t.daemon = True
    assert _error(set_daemon) == (RuntimeError, 'cannot set daemon status of active thread')
    ev.set()
    t.join()


def test_group_must_be_none(mod):
    assert _error(lambda: mod.Thread(group=object())) == \
        (AssertionError, 'group argument must be None for now')


def test_uninitialised_subclass(mod):
    class Bad(mod.Thread):
        def __init__(self):
            pass
    assert _error(Bad().start) == (RuntimeError, 'thread.__init__() not called')
    assert _error(Bad().join) == (RuntimeError, 'Thread.__init__() not called')


@pytest.mark.parametrize('size', [1, 4096, -1])
def test_stack_size_invalid(mod, size):
    assert _error(lambda: mod.stack_size(size)) == _error(lambda: threading.stack_size(size))
    assert _error(lambda: mod.stack_size(size))[0] is ValueError


def test_stack_size_valid_roundtrip(mod):
    old = mod.stack_size()
    try:
        assert mod.stack_size(256 * 1024) == old
        assert mod.stack_size() == 256 * 1024
    finally:
        mod.stack_size(old)


def _join_error_on_live_thread(module, timeout):
    ev = module.Event()
    t = module.Thread(target=ev.wait)
    t.start()
    try:
        err = _error(lambda: t.join(timeout))
    finally:
        ev.set()
        t.join()
    return err[0] if err else None


@pytest.mark.parametrize('timeout', ['x', 1e100, float('nan')])
def test_join_bad_timeouts_on_a_live_thread(timeout):
    assert _join_error_on_live_thread(greenthreads, timeout) == \
        _join_error_on_live_thread(threading, timeout)


def test_join_bad_timeout_type_on_finished_thread(mod):
    t = mod.Thread(target=lambda: None)
    t.start()
    t.join()
    assert _error(lambda: t.join('x'))[0] is TypeError


# ------------------------------------------------------- identity & registry
def test_main_thread_is_current_in_main(mod):
    main = mod.main_thread()
    assert main is mod.current_thread()
    assert main.name == 'MainThread'
    assert main.ident == mod.get_ident() == threading.get_ident()
    assert main.daemon is False and main.is_alive()
    assert main in mod.enumerate()


def test_idents_unique_per_live_thread_and_native_id_shared():
    ev = greenthreads.Event()
    seen = []

    def worker():
        seen.append((greenthreads.get_ident(), greenthreads.get_native_id(),
                     greenthreads.current_thread()))
        ev.wait()
    threads = [greenthreads.Thread(target=worker) for _ in range(200)]
    for t in threads:
        t.start()
    green_sleep(0)
    assert len(seen) == 200
    assert len({ident for ident, _, _ in seen}) == 200
    assert {native for _, native, _ in seen} == {threading.get_native_id()}
    for (ident, _, thread), t in zip(seen, threads):
        assert thread is t and t.ident == ident
    assert greenthreads.active_count() >= 201
    assert set(threads) <= set(greenthreads.enumerate())
    ev.set()
    for t in threads:
        t.join()
    assert not set(threads) & set(greenthreads.enumerate())


def test_current_thread_in_foreign_greenlet_is_a_dummy():
    import greenlet
    out = []
    g = greenlet.greenlet(lambda: out.append(greenthreads.current_thread()))
    g.switch()
    dummy = out[0]
    assert dummy.name.startswith('Dummy-') and dummy.daemon
    assert isinstance(dummy, greenthreads.Thread)
    del g, out
    import gc
    gc.collect()
    assert dummy not in greenthreads.enumerate()


# ----------------------------------------------------------------- excepthook
def test_uncaught_exception_goes_to_default_excepthook(mod, capsys):
    def boom():
        raise ValueError('boom!')
    t = mod.Thread(target=boom, name='bad')
    t.start()
    t.join()
    err = capsys.readouterr().err
    assert 'Exception in thread bad:' in err
    assert 'ValueError: boom!' in err


def _failing_thread_under_hook(mod, hook):
    """Run a thread that raises ZeroDivisionError with ``mod.excepthook = hook``."""
    old = mod.excepthook
    mod.excepthook = hook
    try:
        t = mod.Thread(target=lambda: 1 / 0)
        t.start()
        t.join()
    finally:
        mod.excepthook = old
    return t


def test_replaced_excepthook_is_honoured(mod):
    seen = []
    t = _failing_thread_under_hook(
        mod, lambda args: seen.append((args.exc_type, str(args.exc_value), args.thread)))
    assert seen == [(ZeroDivisionError, 'division by zero', t)]


def test_system_exit_in_thread_is_silent(mod, capsys):
    t = mod.Thread(target=sys.exit, args=(3,))
    t.start()
    t.join()
    assert capsys.readouterr().err == ''


def test_hub_runs_on_after_thread_error(capsys):
    t = greenthreads.Thread(target=lambda: 1 / 0)
    t.start()
    t.join()
    out = []
    t2 = greenthreads.Thread(target=lambda: out.append(1))
    t2.start()
    t2.join()
    assert out == [1]
    capsys.readouterr()


def test_failing_excepthook_falls_back_to_sys_excepthook(mod, capsys):
    def bad_hook(args):
        raise RuntimeError('hook failed')
    _failing_thread_under_hook(mod, bad_hook)
    err = capsys.readouterr().err
    assert 'Exception in threading.excepthook:' in err
    assert 'RuntimeError: hook failed' in err


# ----------------------------------------------------------------- contexts
def test_each_thread_starts_with_a_fresh_context(mod):
    var = contextvars.ContextVar('var', default='unset')
    var.set('main')
    out = []

    def worker(i):
        out.append(var.get())
        var.set(i)
        mod.current_thread()  # any switch point
        out.append(var.get())
    threads = [mod.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out, key=str) == sorted(['unset', 0, 'unset', 1, 'unset', 2], key=str)
    assert var.get() == 'main'


def test_contexts_do_not_leak_across_green_switches():
    var = contextvars.ContextVar('var2', default=None)
    out = []

    def worker(i):
        var.set(i)
        green_sleep(0.01)
        out.append((i, var.get()))
    threads = [greenthreads.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == [(i, i) for i in range(10)]


# ----------------------------------------------------------- trace/profile
def test_settrace_applies_to_new_threads_only_and_does_not_leak(mod):
    calls = {}

    def tracer(frame, event, arg):
        if event == 'call':
            calls.setdefault(mod.current_thread().name, set()).add(frame.f_code.co_name)
        return None

    def traced_func():
        pass

    def untraced_func():
        pass

    def loop(fn):
        for _ in range(3):
            fn()
            green_sleep(0.001) if mod is greenthreads else time.sleep(0.001)

    before = mod.Thread(target=loop, args=(untraced_func,), name='before')
    before.start()
    mod.settrace(tracer)
    try:
        assert mod.gettrace() is tracer
        after = mod.Thread(target=loop, args=(traced_func,), name='after')
        after.start()
        loop(untraced_func)  # the main thread: not traced
        after.join()
        before.join()
    finally:
        mod.settrace(None)
    assert 'traced_func' in calls.get('after', set())
    assert 'before' not in calls and 'MainThread' not in calls
    assert sys.gettrace() is None or mod is threading


def test_setprofile_applies_to_new_threads(mod):
    seen = []

    def prof(frame, event, arg):
        if event == 'call' and frame.f_code.co_name == 'profiled':
            seen.append(mod.current_thread().name)

    def profiled():
        pass
    mod.setprofile(prof)
    try:
        assert mod.getprofile() is prof
        t = mod.Thread(target=profiled, name='p')
        t.start()
        t.join()
        profiled()   # main: not profiled
    finally:
        mod.setprofile(None)
    assert seen == ['p']


@pytest.mark.skipif(sys.version_info < (3, 12), reason='added in 3.12')
def test_settrace_all_threads_reaches_running_threads():
    hits = []

    def tracer(frame, event, arg):
        if event == 'call' and frame.f_code.co_name == 'marker':
            hits.append(greenthreads.current_thread().name)
        return None

    def marker():
        pass
    ev = greenthreads.Event()

    def worker():
        ev.wait()
        marker()
    t = greenthreads.Thread(target=worker, name='running')
    t.start()
    green_sleep(0)
    greenthreads.settrace_all_threads(tracer)
    try:
        ev.set()
        t.join()
        marker()
    finally:
        greenthreads.settrace_all_threads(None)
        sys.settrace(None)
    assert sorted(hits) == ['MainThread', 'running']


# -------------------------------------------------------------------- Timer
def test_timer_fires_with_args(mod):
    out = []
    t = mod.Timer(0.02, lambda *a, **k: out.append((a, k)), args=(1,), kwargs={'k': 2})
    t.start()
    t.join()
    assert out == [((1,), {'k': 2})]
    assert t.finished.is_set()


def test_timer_cancel(mod):
    out = []
    t = mod.Timer(10, out.append, args=('never',))
    t.start()
    t.cancel()
    t.join(5)
    assert not t.is_alive()
    assert out == []


# ---------------------------------------------------------------- the scale
def test_100k_threads_start_and_join():
    n = 100_000
    counter = [0]

    def work():
        counter[0] += 1
    threads = [greenthreads.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter[0] == n
    assert not any(t.is_alive() for t in threads)


def test_1000_sleepers_run_concurrently_in_one_os_thread():
    natives = set()

    def sleeper():
        greenthreads.sleep(0.5)
        natives.add(greenthreads.get_native_id())
    threads = [greenthreads.Thread(target=sleeper) for _ in range(1000)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    # Concurrency, not speed: one after another this would take 500 s.
    assert elapsed < 5, elapsed
    assert natives == {threading.get_native_id()}


def test_warnings_are_not_errors_here():
    # Guard: the deprecated-alias tests above rely on warnings being shown.
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        greenthreads.Thread().getName()
    assert w and w[0].category is DeprecationWarning


@pytest.mark.timeout(60)
def test_a_fork_from_another_os_thread_makes_it_the_main_thread_unpatched():
    # CPython's own after-fork handler makes the forking thread the main one;
    # importing greenthreads (not patching) must not undo it.
    code = ('import os, threading, greenthreads\n'
            'def fork():\n'
            '    pid = os.fork()\n'
            '    if pid == 0:\n'
            '        os._exit(0 if threading.main_thread() is threading.current_thread() else 3)\n'
            '    print(os.waitpid(pid, 0)[1])\n'
            't = threading.Thread(target=fork); t.start(); t.join()\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0 and proc.stdout == '0\n', proc.stdout + proc.stderr
