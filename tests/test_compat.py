"""_compat: each version/feature fact agrees with what the running Python does."""

import inspect
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import warnings
import _thread

import pytest

import greenthreads
from greenthreads import _compat, _green_thread
from greenthreads._originals import real_allocate_lock, real_start_new_thread, real_thread_count
from greenthreads.green import socket as green_socket
from conftest import error_of


def test_compat_imports_only_the_stdlib():
    source = inspect.getsource(_compat)
    assert not re.search(r'^\s*(from\s+\.|import\s+greenthreads|from\s+greenthreads)', source, re.M)


def test_every_fact_is_a_bool_and_listed():
    facts = [name for name in vars(_compat) if name.isupper()]
    assert sorted(facts) == sorted(_compat.__all__)
    assert all(type(getattr(_compat, name)) is bool for name in facts)


def test_no_version_info_outside_compat():
    package = os.path.dirname(os.path.abspath(greenthreads.__file__))
    found = []
    for folder, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith('.py') or path == os.path.join(package, '_compat.py'):
                continue
            with open(path, encoding='utf-8') as file:
                for number, line in enumerate(file, 1):
                    if 'version_info' in line:
                        found.append(f'{os.path.relpath(path, package)}:{number}: {line.strip()}')
    assert found == []


# -- threading and _thread ----------------------------------------------------

def test_trace_all_threads():
    assert _compat.TRACE_ALL_THREADS == hasattr(threading, 'settrace_all_threads')
    assert _compat.TRACE_ALL_THREADS == hasattr(threading, 'setprofile_all_threads')
    assert _compat.TRACE_ALL_THREADS == hasattr(greenthreads, 'settrace_all_threads')
    assert _compat.TRACE_ALL_THREADS == hasattr(greenthreads, 'setprofile_all_threads')


def test_start_joinable_thread():
    assert _compat.START_JOINABLE_THREAD == hasattr(threading, '_start_joinable_thread')
    assert _compat.START_JOINABLE_THREAD == (not hasattr(threading, '_start_new_thread'))
    if _compat.START_JOINABLE_THREAD:
        assert 'daemon' in inspect.signature(_thread.start_joinable_thread).parameters


def test_thread_handles():
    assert _compat.THREAD_HANDLES == hasattr(_thread, '_ThreadHandle')
    t = threading.Thread(target=lambda: None)
    handle = getattr(t, '_handle', None)
    assert _compat.THREAD_HANDLES == (handle is not None and type(handle) is _thread._ThreadHandle)


def test_join_checks_timeout_when_done(mod):
    t = mod.Thread(target=lambda: None)
    t.start()
    t.join()
    # The handle reads a NaN timeout and rejects it; before, a done thread never looked.
    assert (error_of(t.join, math.nan) is not None) == _compat.JOIN_CHECKS_TIMEOUT_WHEN_DONE


def _in_real_thread(fn):
    """Call ``fn()`` in a new real OS thread not started by threading; return its result."""
    result = []
    done = real_allocate_lock()
    done.acquire()

    def body():
        try:
            result.append(fn())
        finally:
            done.release()
    real_start_new_thread(body, ())
    assert done.acquire(True, 10)
    return result[0]


def test_dummy_thread_raises():
    def join_own_dummy():
        error = error_of(threading.current_thread().join)
        if error is None:   # python -O: the assert was dropped
            try:
                threading.current_thread().join()
            except AssertionError as exc:
                error = type(exc), str(exc)
        return error
    error = _in_real_thread(join_own_dummy)
    if _compat.DUMMY_THREAD_RAISES:
        assert error == (RuntimeError, 'cannot join a dummy thread')
    else:
        assert error in (None, (AssertionError, 'cannot join a dummy thread'))


def test_dummy_threads_forgotten():
    before = real_thread_count()
    dummy = _in_real_thread(threading.current_thread)
    assert isinstance(dummy, threading._DummyThread)
    try:
        deadline = time.monotonic() + 10
        if _compat.DUMMY_THREADS_FORGOTTEN:
            while threading._active.get(dummy.ident) is dummy and time.monotonic() < deadline:
                time.sleep(0.01)
            assert threading._active.get(dummy.ident) is not dummy
        else:
            while real_thread_count() > before and time.monotonic() < deadline:
                time.sleep(0.01)
            assert real_thread_count() == before
            assert threading._active.get(dummy.ident) is dummy
    finally:
        if threading._active.get(dummy.ident) is dummy:
            del threading._active[dummy.ident]


def _unraisable_of(start, run):
    """What ``sys.unraisablehook`` got for a failing thread ``start`` started, and both expectations.

    Returns ``(seen, named, not_named)``: a list of ``(err_msg, object)``,
    then the report that names the function in the message, then the older one.
    """
    def fail():
        raise ZeroDivisionError
    seen = []
    reported = real_allocate_lock()
    reported.acquire()

    def hook(args):
        seen.append((args.err_msg, args.object))
        reported.release()
    old = sys.unraisablehook
    sys.unraisablehook = hook
    try:
        start(fail, ())
        run(reported)
    finally:
        sys.unraisablehook = old
    expected = f'Exception ignored in thread started by {fail!r}', None
    return seen, expected, (expected[0][:-len(f' {fail!r}')], fail)


def test_unraisable_names_function():
    seen, named, not_named = _unraisable_of(real_start_new_thread,
                                            lambda reported: reported.acquire(True, 10))
    assert seen == [named if _compat.UNRAISABLE_NAMES_FUNCTION else not_named]


def test_green_unraisable_report_agrees():
    def run(reported):
        deadline = time.monotonic() + 10
        while not reported.acquire(False) and time.monotonic() < deadline:
            greenthreads.sleep(0.01)
    seen, named, not_named = _unraisable_of(_green_thread.start_new_thread, run)
    assert seen == [named if _compat.UNRAISABLE_NAMES_FUNCTION else not_named]


def test_rlock_args_deprecated():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        threading.RLock(None)
        greenthreads.RLock(None)
    kinds = [w.category for w in caught]
    assert kinds == ([DeprecationWarning] * 2 if _compat.RLOCK_ARGS_DEPRECATED else [])


# -- other modules --------------------------------------------------------------

def test_semlock_block_any_object():
    _multiprocessing = pytest.importorskip('_multiprocessing')
    try:
        sem = _multiprocessing.SemLock(1, 1, 1, f'/gt-compat-{os.getpid()}', True)
    except (OSError, AttributeError) as exc:
        pytest.skip(f'no named semaphores here: {exc}')
    error = error_of(sem.acquire, 'yes')
    if error is None:
        sem.release()
    assert (error is None) == _compat.SEMLOCK_BLOCK_ANY_OBJECT


def test_create_connection_all_errors():
    for module in (socket, green_socket):
        params = inspect.signature(module.create_connection).parameters
        assert ('all_errors' in params) == _compat.CREATE_CONNECTION_ALL_ERRORS


# -- the interpreter's startup ----------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: python itself, and greenthreads' runner, which must agree with it.
RUNNERS = pytest.mark.parametrize('runner', [[], ['-m', 'greenthreads']], ids=['python', 'runner'])


def _python(runner, args, cwd=None):
    env = dict(os.environ, PYTHON_COLORS='0', NO_COLOR='1')
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    return subprocess.run([sys.executable, *runner, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


@RUNNERS
def test_dot_script_is_cwd(tmp_path, runner):
    (tmp_path / '__main__.py').write_text('print(__file__)\n')
    out = _python(runner, ['.'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    is_cwd = out.stdout.strip() == os.path.join(os.path.realpath(tmp_path), '__main__.py')
    assert is_cwd == _compat.DOT_SCRIPT_IS_CWD


@RUNNERS
def test_command_source_in_linecache(runner):
    out = _python(runner, ['-c', '1/0'])
    assert 'ZeroDivisionError' in out.stderr
    assert ('\n    1/0\n' in out.stderr) == _compat.COMMAND_SOURCE_IN_LINECACHE


@RUNNERS
def test_main_has_annotations(runner):
    out = _python(runner, ['-c', "import __main__; print('__annotations__' in vars(__main__))"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(_compat.MAIN_HAS_ANNOTATIONS)
