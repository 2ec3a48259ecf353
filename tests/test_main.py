"""python -m greenthreads, patch_all, and unmodified stdlib servers on green threads."""

import os
import py_compile
import re
import signal
import subprocess
import sys
import textwrap
import zipfile

import pytest

from conftest import ROOT

SCRIPTS = os.path.join(ROOT, 'tests', 'scripts')


def run_main(*args, timeout=120, cwd=ROOT, input=None, options=()):
    """``python [options] -m greenthreads *args`` in ``cwd``, greenthreads importable from ROOT."""
    return _run_python([*options, '-m', 'greenthreads', *args], timeout, cwd, input)


def run_python(*args, timeout=120, cwd=ROOT, input=None, options=()):
    """Plain ``python [options] *args``, in the same environment as :func:`run_main`."""
    return _run_python([*options, *args], timeout, cwd, input)


def _run_python(args, timeout, cwd, input):
    # stdin is a closed pipe unless given: python reads a program from it for "-".
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, input=input if input is not None else '',
                          env=dict(os.environ, PYTHONPATH=ROOT))


def test_script_gets_argv_file_and_exit_code(tmp_path):
    script = tmp_path / 'prog.py'
    script.write_text(textwrap.dedent('''
        import sys, threading, socket, select, time
        import greenthreads, greenthreads.monkey as monkey
        print(sys.argv[1:], __file__ == sys.argv[0], __name__)
        print(threading.Thread is greenthreads.Thread, monkey.is_patched('socket', 'socket'),
              hasattr(select, 'epoll'), sys.path[0] == %r)
        raise SystemExit(7)
    ''' % str(tmp_path)))
    proc = run_main(str(script), 'a', '--b')
    assert proc.returncode == 7, proc.stderr
    # select.epoll stays, cooperative (hasattr: True)
    assert proc.stdout.splitlines() == ["['a', '--b'] True __main__", 'True True True True']


def test_uncaught_exception_prints_traceback_and_exits_1(tmp_path):
    script = tmp_path / 'boom.py'
    script.write_text('def f():\n    raise ValueError("boom")\nf()\n')
    proc = run_main(str(script))
    assert proc.returncode == 1
    assert 'ValueError: boom' in proc.stderr and 'boom.py' in proc.stderr


def test_dash_m_runs_a_module():
    proc = run_main('-m', 'json.tool', '--help')
    assert proc.returncode == 0 and 'usage' in proc.stdout.lower()


def test_usage_without_arguments():
    proc = run_main()
    assert proc.returncode == 2 and 'usage' in proc.stderr


# ---------------------------------------------------- answering like python
# Each case runs once as ``python ARGS`` and once as ``python -m greenthreads
# ARGS`` in the same directory and environment; exit status, stdout and
# stderr must be the same, bar the program name python's own one-line
# messages start with.

PROBE = """\
import sys
loader = globals().get('__loader__')
print('argv', sys.argv)
print('path', sys.path)
print('globals', sorted(globals()))
print('file', globals().get('__file__'), globals().get('__cached__'))
print('name', __name__, getattr(__spec__, 'name', None), __package__)
print('loader', getattr(loader, '__name__', type(loader).__name__), getattr(loader, 'path', None))
print('main', type(__builtins__).__name__, sys.modules['__main__'].__dict__ is globals())
"""

BOOM = 'def f():\n    raise ValueError("boom")\nf()\n'

ATEXIT_PROBE = """\
import atexit, sys
atexit.register(lambda: print('at exit', sorted(vars(sys.modules['__main__']))))
if sys.argv[1:] == ['exit']:
    sys.exit(3)
if sys.argv[1:] == ['raise']:
    1/0
"""

FILES = {
    'probe.py': PROBE,
    'sub/keep': '',
    'appdir/__main__.py': PROBE,
    'nomaindir/x.py': 'x = 1\n',
    'pkg/__init__.py': 'import sys\nprint("pkg init sees argv", sys.argv)\n',
    'pkg/__main__.py': PROBE,
    'nomainpkg/__init__.py': '',
    'boom.py': BOOM,
    'boompkg/__init__.py': '',
    'boompkg/__main__.py': BOOM,
    'boomdir/__main__.py': BOOM,
    'chained.py': 'try:\n    1/0\nexcept ZeroDivisionError:\n    raise ValueError("chained")\n',
    'bad.py': 'def (\n',
    'badmod.py': 'def (\n',
    'exit7.py': 'raise SystemExit(7)\n',
    'interrupt.py': 'raise KeyboardInterrupt\n',
    'atexit_probe.py': ATEXIT_PROBE,
    'junk.pyc': 'not compiled code at all',
}


@pytest.fixture
def tree(tmp_path):
    """A directory of programs for the cases below (they run with it as cwd)."""
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / 'links').mkdir()
    (tmp_path / 'links' / 'link.py').symlink_to(os.path.join('..', 'probe.py'))
    with zipfile.ZipFile(tmp_path / 'app.zip', 'w') as archive:
        archive.writestr('__main__.py', PROBE)
    with zipfile.ZipFile(tmp_path / 'nomain.zip', 'w') as archive:
        archive.writestr('x.py', 'x = 1\n')
    py_compile.compile(str(tmp_path / 'probe.py'), cfile=str(tmp_path / 'compiled.pyc'),
                       doraise=True)
    return tmp_path


# python's one-line complaints name the interpreter first, however it was invoked.
_PROGRAM_PREFIX = re.compile(
    r"^.*?: (?=can't open file |can't find '__main__' |No module named |Error while finding )",
    re.MULTILINE)


def answer(proc):
    return proc.returncode, proc.stdout, _PROGRAM_PREFIX.sub('<python>: ', proc.stderr)


def assert_answers_like_python(args, cwd, input=None, options=()):
    expected = answer(run_python(*args, cwd=cwd, input=input, options=options, timeout=30))
    actual = answer(run_main(*args, cwd=cwd, input=input, options=options, timeout=30))
    assert actual == expected
    return actual


LIKE_PYTHON = {
    # scripts
    'script': ['probe.py', 'a', '--b'],
    'script-absolute': ['{cwd}/probe.py'],
    'script-dotdot': ['sub/../probe.py'],
    'script-symlink': ['links/link.py'],
    'script-pyc': ['compiled.pyc', 'x'],
    'script-bad-pyc': ['junk.pyc'],
    'script-missing': ['missing.py', 'a'],
    'script-missing-dir': ['missing/'],
    # directories and zip files
    'dir': ['appdir', 'x'],
    'dir-slash': ['appdir/', 'x'],
    'dir-without-main': ['nomaindir'],
    'dir-cwd-empty': [''],
    'dir-cwd-dot': ['.'],
    'zip': ['app.zip', 'x'],
    'zip-without-main': ['nomain.zip'],
    # -c
    'c': ['-c', PROBE, 'a', '-b'],
    'c-attached': ['-cimport sys; print(sys.argv)', 'x'],
    'c-traceback': ['-c', 'def f():\n    1/0\nf()\n'],
    'c-syntax-error': ['-c', 'def ('],
    'c-exit-message': ['-c', 'import sys; sys.exit("bye")'],
    # -m
    'm-package': ['-m', 'pkg', 'a'],
    'm-attached': ['-mpkg', 'a'],
    'm-package-main': ['-m', 'pkg.__main__'],
    'm-module': ['-m', 'probe', '-x'],
    'm-stdlib': ['-m', 'json.tool', '--help'],
    'm-missing': ['-m', 'nosuchmod'],
    'm-missing-parent': ['-m', 'nosuchmod.sub'],
    'm-missing-child': ['-m', 'pkg.nosub'],
    'm-package-without-main': ['-m', 'nomainpkg'],
    'm-traceback': ['-m', 'boompkg'],
    'm-syntax-error': ['-m', 'badmod'],
    # --
    'dashdash-script': ['--', 'probe.py', 'a'],
    'dashdash-dash-c-is-a-file': ['--', '-c'],
    # the program's own ending
    'traceback': ['boom.py'],
    'traceback-chained': ['chained.py'],
    'traceback-dir': ['boomdir'],
    'syntax-error': ['bad.py'],
    'system-exit': ['exit7.py'],
    'keyboard-interrupt': ['interrupt.py'],
    'file-gone-at-exit': ['atexit_probe.py'],
    'file-kept-on-system-exit': ['atexit_probe.py', 'exit'],
    'file-gone-after-exception': ['atexit_probe.py', 'raise'],
}


@pytest.mark.parametrize('args', LIKE_PYTHON.values(), ids=LIKE_PYTHON.keys())
def test_answers_like_python(tree, args):
    args = [arg.format(cwd=tree) if arg.startswith('{cwd}') else arg for arg in args]
    assert_answers_like_python(args, cwd=tree)


def test_answers_like_python_reading_the_program_from_stdin(tree):
    for args in (['-', 'a'], ['--', '-', 'a']):
        assert_answers_like_python(args, cwd=tree, input=PROBE)
    assert_answers_like_python(['-'], cwd=tree, input='print(__file__)\n' + BOOM)


def test_answers_like_python_for_the_exit_statuses_that_matter(tree):
    # A sample of the above, pinned down: python's own statuses, not just ours agreeing.
    statuses = {('missing.py',): 2, ('nomaindir',): 1, ('nomain.zip',): 1,
                ('-m', 'nosuchmod'): 1, ('-m', 'nomainpkg'): 1, ('boom.py',): 1,
                ('exit7.py',): 7, ('interrupt.py',): -signal.SIGINT}
    for args, status in statuses.items():
        returncode, _, stderr = assert_answers_like_python(args, cwd=tree)
        assert returncode == status, (args, stderr)
    _, _, stderr = assert_answers_like_python(['missing.py'], cwd=tree)
    assert stderr == ("<python>: can't open file %r: [Errno 2] No such file or directory\n"
                      % os.path.join(str(tree), 'missing.py'))
    _, _, stderr = assert_answers_like_python(['-m', 'nosuchmod'], cwd=tree)
    assert stderr == '<python>: No module named nosuchmod\n'


@pytest.mark.skipif(sys.version_info < (3, 11), reason='-P is new in Python 3.11')
@pytest.mark.parametrize('args', [['probe.py'], ['appdir'], ['app.zip'], ['-c', PROBE],
                                  ['-m', 'json.tool', '--help'], ['-m', 'pkg']],
                         ids=['script', 'dir', 'zip', 'c', 'm', 'm-not-on-path'])
def test_answers_like_python_under_safe_path(tree, args):
    assert_answers_like_python(args, cwd=tree, options=['-P'])


@pytest.mark.parametrize('args', [['-c'], ['-m'], ['-Z'], ['-Zfoo'], ['--foo']])
def test_usage_errors_like_python(tree, args):
    expected = run_python(*args, cwd=tree, timeout=30)
    proc = run_main(*args, cwd=tree, timeout=30)
    # The usage that follows is the runner's own, not python's.
    assert (proc.returncode, proc.stdout) == (expected.returncode, '') == (2, '')
    assert proc.stderr.splitlines()[0] == expected.stderr.splitlines()[0]
    assert proc.stderr.splitlines()[1].startswith('usage: python -m greenthreads ')


def test_usage_error_for_dashdash_without_a_program():
    proc = run_main('--')
    assert proc.returncode == 2 and 'usage: python -m greenthreads' in proc.stderr


@pytest.mark.parametrize('option', ['-h', '--help'])
def test_help_goes_to_stdout(option):
    proc = run_main(option)
    assert (proc.returncode, proc.stderr) == (0, '')
    assert proc.stdout.startswith('usage: python -m greenthreads ')
    assert '-c cmd' in proc.stdout and '-m mod' in proc.stdout and '--version' in proc.stdout


@pytest.mark.parametrize('option', ['-V', '--version'])
def test_version_names_greenthreads_and_python(option):
    dist = run_python('-c', 'import importlib.metadata as md; print(md.version("greenthreads"))')
    python = run_python('-V').stdout.split()[-1]
    proc = run_main(option)
    assert (proc.returncode, proc.stderr) == (0, '')
    assert proc.stdout == 'greenthreads %s (Python %s)\n' % (dist.stdout.strip(), python)


PATCHED = ('import threading, greenthreads, greenthreads.monkey as monkey\n'
           'print(threading.Thread is greenthreads.Thread, monkey.is_patched("socket", "socket"))\n')


@pytest.mark.parametrize('args', [['prog.py'], ['--', 'prog.py'], ['dir'], ['app.zip'],
                                  ['-c', PATCHED], ['-m', 'pkg'], ['-']],
                         ids=['script', 'dashdash', 'dir', 'zip', 'c', 'm', 'stdin'])
def test_every_mode_runs_the_program_patched(tmp_path, args):
    for name in ('prog.py', 'dir/__main__.py', 'pkg/__main__.py'):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(PATCHED)
    (tmp_path / 'pkg' / '__init__.py').write_text('')
    with zipfile.ZipFile(tmp_path / 'app.zip', 'w') as archive:
        archive.writestr('__main__.py', PATCHED)
    proc = run_main(*args, cwd=tmp_path, input=PATCHED, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, 'True True\n', '')


@pytest.mark.timeout(300)
def test_threading_tcp_server_5000_connections_one_os_thread():
    proc = run_main(os.path.join(SCRIPTS, 'echo_server.py'), '5000', timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # N, every byte echoed, the most connections served at once, OS threads;
    # stderr carries any client or handler thread's traceback (excepthook)
    assert proc.stdout.split() == ['5000', 'True', '5000', '1'], proc.stderr[-3000:]


@pytest.mark.timeout(300)
def test_threading_http_server_5000_keepalive_connections_one_os_thread():
    proc = run_main(os.path.join(SCRIPTS, 'http_server.py'), '5000', timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['5000', 'True', '1'], proc.stderr[-3000:]


@pytest.mark.timeout(120)
@pytest.mark.parametrize('program', ['waitress_app.py', 'smtp_pool.py'])
def test_unmodified_programs_print_what_they_print_natively(program):
    path = os.path.join(SCRIPTS, program)
    native = run_python(path, timeout=100)
    assert native.returncode == 0, native.stderr[-3000:]
    assert len(native.stdout.splitlines()) > 50, native.stdout
    patched = run_main(path, timeout=100)
    assert patched.returncode == 0, patched.stderr[-3000:]
    assert patched.stdout == native.stdout
