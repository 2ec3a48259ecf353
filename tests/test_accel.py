"""The compiled core: which modules run compiled, and the switch to pure Python."""

import importlib
import importlib.machinery
import os

import greenthreads
from greenthreads import _accel
from conftest import run_script


def test_compiled_says_whether_the_hot_modules_are_extensions():
    files = [importlib.import_module(f'greenthreads.{name}').__file__ for name in _accel.HOT_MODULES]
    assert greenthreads.compiled is _accel.compiled()
    assert greenthreads.compiled is all(not f.endswith('.py') for f in files)
    if os.environ.get('GREENTHREADS_REQUIRE_COMPILED'):
        # CI builds the compiled core: a silent fall-back to pure Python fails here.
        assert greenthreads.compiled, f'the hot modules run from source: {files}'


def test_the_build_read_the_declarations():
    # Compiled with their .pxd (which the sdist must carry), these are extension
    # types with typed fields; compiled without, they would be plain classes.
    from greenthreads._locks import Lock, RLock
    from greenthreads._park import Waiter, WaitQueue
    from greenthreads._hub import Hub
    from greenthreads._sync import _EventState
    from greenthreads.green.queue import _QueueCore
    heap_type = 1 << 9      # Py_TPFLAGS_HEAPTYPE: a class made by a class statement
    for cls in (Waiter, WaitQueue, Hub, Lock, RLock, _EventState, _QueueCore):
        assert bool(cls.__flags__ & heap_type) is not greenthreads.compiled, cls


def test_pure_python_mode_imports_every_hot_module_from_source():
    proc = run_script(r"""
        import importlib, greenthreads
        from greenthreads import _accel
        files = [importlib.import_module('greenthreads.' + m).__file__ for m in _accel.HOT_MODULES]
        print(_accel.compiled(), [f.endswith('.py') for f in files])
        t = greenthreads.Thread(target=print, args=('green',))
        t.start(); t.join()
    """, env_extra={'GREENTHREADS_PURE_PYTHON': '1'})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f'False {[True] * len(_accel.HOT_MODULES)}\ngreen\n'


def test_the_switch_reads_only_a_set_value():
    proc = run_script("""
        import greenthreads
        from greenthreads import _accel
        print(_accel.PURE_PYTHON)
    """, env_extra={'GREENTHREADS_PURE_PYTHON': '0'})
    assert proc.stdout == 'False\n', proc.stderr


def test_a_stale_build_never_runs_in_place_of_its_edited_source(tmp_path):
    # A source checkout with a hot module edited after the build: its source runs.
    folder = tmp_path / 'pkg'
    folder.mkdir()
    built = folder / ('_hub' + importlib.machinery.EXTENSION_SUFFIXES[0])
    built.write_bytes(b'')
    source = folder / '_hub.py'
    source.write_text('')
    os.utime(built, (1000, 1000))
    os.utime(source, (2000, 2000))
    assert _accel._stale(str(folder), '_hub', str(source))
    os.utime(built, (3000, 3000))
    assert not _accel._stale(str(folder), '_hub', str(source))
