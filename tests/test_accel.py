"""The compiled core: which modules run compiled, and the switch to pure Python."""

import importlib
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
