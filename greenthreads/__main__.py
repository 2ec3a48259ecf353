"""``python -m greenthreads [-c cmd | -m mod | file | -] [arg] ...``: run a program, patched.

Applies :func:`greenthreads.monkey.patch_all` first, then runs the program
the way ``python`` itself would run it from the same arguments, and answers
like ``python`` when it cannot:

* ``file``: a script (source or ``.pyc``), or a directory or zip archive
  holding ``__main__.py``.  ``sys.argv`` is the file and its arguments,
  ``__file__`` the file's absolute path, ``sys.path[0]`` the script's
  (symlink-resolved) directory or the directory/archive itself.  A file that
  cannot be opened: ``<python>: can't open file '<absolute path>': [Errno N]
  ...``, exit status 2; a directory or archive without ``__main__``:
  ``<python>: can't find '__main__' module in '...'``, exit status 1.
* ``-c cmd``: ``cmd`` runs as ``__main__``; ``sys.argv`` is ``['-c', arg...]``,
  ``sys.path[0]`` is ``''``.
* ``-m mod``: the module, or a package's ``__main__``, runs as ``__main__``;
  ``sys.argv[0]`` is its file, ``sys.path[0]`` the working directory.  An
  unknown module or a package without ``__main__``: python's one-line
  message, exit status 1.
* ``-``: the program is read from standard input.
* ``--`` ends the runner's options: the next argument is the file.

The program's exit status, and the traceback of an exception it lets
escape, are its own: the runner's frames are left out of the traceback as
``python``'s own would be.  Under ``-P``/``-I`` nothing is put on
``sys.path`` where python would put nothing.  ``-h``/``--help`` prints the
usage (status 0), ``-V``/``--version`` the greenthreads and Python versions
(status 0); no arguments, a missing option argument or an unknown option
prints the usage to stderr with status 2.
"""

import builtins
import importlib.machinery
import importlib.util
import marshal
import os
import pkgutil
import runpy
import sys
import types

from ._compat import DOT_SCRIPT_IS_CWD, COMMAND_SOURCE_IN_LINECACHE, MAIN_HAS_ANNOTATIONS

USAGE = 'usage: python -m greenthreads [-h | -V] [--dump-on SIG] [-c cmd | -m mod | file | -] [arg] ...'
HELP = USAGE + '''
Run a Python program as `python` would, after greenthreads.monkey.patch_all().

-c cmd : program passed in as string (terminates option list)
-m mod : run library module as a script (terminates option list)
file   : program read from script file, or a directory or zip file with __main__.py
-      : program read from stdin
--     : end of options: the next argument is the file
-h     : print this help message and exit (also --help)
-V     : print the greenthreads and Python versions and exit (also --version)
--dump-on SIG : on signal SIG (SIGUSR1, USR1 or a number), print every green
         thread's name, state, what it waits on and its stack, and go on
arg ...: arguments passed to program in sys.argv[1:]

Interpreter options (-u, -O, -X opt, -W arg, ...) go before `-m greenthreads`.
'''
TRY_HELP = "Try `python -m greenthreads -h' for more information."

# Identifies this module's frames in a traceback: whichever name the module
# runs under, its functions share these globals.
_RUNNER_GLOBALS = globals()


class _UsageError(Exception):
    """A command line python's own option parser would reject (status 2)."""


def main(argv=None):
    """Run the program named by ``argv`` (default ``sys.argv[1:]``); return its exit status.

    Meant to be the process's entry point (``python -m greenthreads``): it
    replaces ``sys.argv``, ``sys.modules['__main__']`` and the ``sys.path[0]``
    python set up for the runner, as python would have for the program.
    Statuses the runner decides itself are returned (0 after the program
    ran to its end, 2 for a usage error or a file it cannot open); the
    program's ``SystemExit`` and uncaught exceptions propagate, to be handled
    by the interpreter as ``python`` would handle them.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        dump_on, argv = _runner_options(argv)
        mode, target, args = _parse(argv)
    except _UsageError as exc:
        print(exc, USAGE, TRY_HELP, sep='\n', file=sys.stderr)
        return 2
    if mode == 'help':
        print(HELP, end='')
        return 0
    if mode == 'version':
        print(f'greenthreads {_version()} (Python {sys.version.split()[0]})')
        return 0
    from . import monkey
    monkey.patch_all()
    if dump_on is not None:
        from . import debug
        debug.dump_on_signal(dump_on)
    try:
        return _RUNNERS[mode](target, args)
    except SystemExit:
        raise
    except BaseException as exc:
        # Left to propagate, not printed here: the interpreter then reports
        # it and exits as python would (status 1, or by SIGINT for a
        # KeyboardInterrupt), and only the traceback's start is ours to fix.
        _print_from_program_frames(exc)
        raise


def _runner_options(argv):
    """``(signal to dump on or None, the rest)``: the runner's own options, before python's."""
    dump_on = None
    while argv and argv[0].startswith('--dump-on'):
        first, argv = argv[0], argv[1:]
        if first.startswith('--dump-on='):
            name = first[len('--dump-on='):]
        elif first == '--dump-on':
            if not argv:
                raise _UsageError('Argument expected for the --dump-on option')
            name, argv = argv[0], argv[1:]
        else:
            raise _UsageError(f'unknown option {first}')
        dump_on = _signal_number(name)
    if not argv:
        raise _UsageError('A program to run is expected')
    return dump_on, argv


def _signal_number(name):
    import signal
    if name.isdigit():
        return int(name)
    sig = getattr(signal, name if name.startswith('SIG') else 'SIG' + name, None)
    if not isinstance(sig, signal.Signals):
        raise _UsageError(f'--dump-on: no such signal: {name}')
    return sig


def _parse(argv):
    """``(mode, target, program arguments)`` for a runner command line.

    Modes: 'file', 'stdin', 'command', 'module', 'help', 'version'.  Only the
    first argument can be the runner's option; like python's, ``-c`` and
    ``-m`` take the next argument or the rest of their own (``-cpass``).
    """
    first, rest = argv[0], argv[1:]
    if first == '--':
        if not rest:
            raise _UsageError('A program to run is expected after --')
        first, rest = rest[0], rest[1:]
        # After --, "-" still means stdin, as for python.
        return ('stdin' if first == '-' else 'file'), first, rest
    if first in ('-h', '--help'):
        return 'help', None, []
    if first in ('-V', '--version'):
        return 'version', None, []
    if first == '-':
        return 'stdin', first, rest
    for option, mode in (('-c', 'command'), ('-m', 'module')):
        if first.startswith(option):
            if len(first) > 2:
                return mode, first[2:], rest
            if not rest:
                raise _UsageError(f'Argument expected for the {option} option')
            return mode, rest[0], rest[1:]
    if first.startswith('--'):
        raise _UsageError(f'unknown option {first}')
    if first.startswith('-'):
        raise _UsageError(f'Unknown option: {first[:2]}')
    return 'file', first, rest


def _version():
    """The installed distribution's version, else the package's ``__version__``."""
    import importlib.metadata
    try:
        return importlib.metadata.version('greenthreads')
    except importlib.metadata.PackageNotFoundError:
        # Run from a source tree that was never installed.
        import greenthreads
        return getattr(greenthreads, '__version__', 'unknown')


def _run_file(path, args):
    """Run a script, or the ``__main__`` of a directory or zip archive, as ``python path``."""
    sys.argv = [path, *args]
    # python names the program by this path: joined to the working
    # directory, not normalised ('../x.py' stays visible in __file__);
    # since 3.11, '' and '.' name the working directory itself.
    if path in ('', '.') and DOT_SCRIPT_IS_CWD:
        full = os.getcwd()
    else:
        full = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    if pkgutil.get_importer(full) is not None:
        # Something an import hook can read (a directory, a zip archive):
        # python imports __main__ from it, so it goes on sys.path even under -P.
        _set_path0(full, even_if_safe=True)
        _new_main_namespace(importlib.machinery.BuiltinImporter)
        # The very function python's own startup calls for this case and for
        # -m: its messages, sys.argv[0], and the frames it adds to a
        # traceback are then python's by construction, not an imitation.
        runpy._run_module_as_main('__main__', alter_argv=False)
        return 0
    try:
        with open(full, 'rb') as file:
            data = file.read()
    except OSError as exc:
        print(f"{_program_name()}: can't open file {full!r}: [Errno {exc.errno}] {exc.strerror}",
              file=sys.stderr)
        return 2
    _set_path0(os.path.dirname(os.path.realpath(full)))
    # python takes a file for compiled code by its name or by the first
    # two bytes of its magic number, then insists on all of it.
    compiled = full.endswith('.pyc') or data[:2] == importlib.util.MAGIC_NUMBER[:2]
    loader = (importlib.machinery.SourcelessFileLoader if compiled
              else importlib.machinery.SourceFileLoader)('__main__', full)
    namespace = _new_main_namespace(loader)
    _exec_with_file(full, namespace, lambda: _load_code(data, full, compiled))
    return 0


def _load_code(data, filename, compiled):
    """The code object of a script's source or ``.pyc`` bytes (python's errors for a bad one)."""
    if not compiled:
        return compile(data, filename, 'exec', dont_inherit=True)
    if data[:4] != importlib.util.MAGIC_NUMBER:
        raise RuntimeError('Bad magic number in .pyc file')
    # The header's other 12 bytes (flags, and a source mtime/size or hash)
    # only matter to an import deciding whether the file is stale.
    code = marshal.loads(data[16:])
    if not isinstance(code, types.CodeType):
        raise RuntimeError('Bad code object in .pyc file')
    return code


def _run_stdin(_, args):
    """Run the program read from standard input, as ``python -``."""
    sys.argv = ['-', *args]
    _set_path0('')
    namespace = _new_main_namespace(importlib.machinery.BuiltinImporter)
    _exec_with_file('<stdin>', namespace,
                    lambda: compile(sys.stdin.buffer.read(), '<stdin>', 'exec', dont_inherit=True))
    return 0


def _run_command(command, args):
    """Run ``command`` as ``python -c command``."""
    sys.argv = ['-c', *args]
    _set_path0('')
    namespace = _new_main_namespace(importlib.machinery.BuiltinImporter)
    if COMMAND_SOURCE_IN_LINECACHE:
        # Python 3.13+ keeps -c's text where tracebacks find it (an mtime
        # of None exempts the entry from linecache.checkcache).
        import linecache
        source = command + '\n'
        linecache.cache['<string>'] = (len(source), None,
                                       [line + '\n' for line in source.splitlines()], '<string>')
    exec(compile(command, '<string>', 'exec', dont_inherit=True), namespace)
    return 0


def _run_module(name, args):
    """Run module ``name`` (a package: its ``__main__``) as ``python -m name``."""
    # While the module is being found sys.argv[0] is '-m', then its file.
    sys.argv = ['-m', *args]
    # sys.path[0] stays the working directory python put there for -m.
    _new_main_namespace(importlib.machinery.BuiltinImporter)
    runpy._run_module_as_main(name)
    return 0


_RUNNERS = {'file': _run_file, 'stdin': _run_stdin, 'command': _run_command,
            'module': _run_module}


def _exec_with_file(filename, namespace, get_code):
    """Exec ``get_code()`` in ``namespace`` with ``__file__`` set while it runs.

    As python does for a file or stdin, ``__file__`` and ``__cached__`` are
    removed again once the program's code returns or raises, except when it
    raises SystemExit (python exits straight away then, leaving them to
    atexit handlers).
    """
    namespace['__file__'] = filename
    namespace['__cached__'] = None
    try:
        exec(get_code(), namespace)
    except SystemExit:
        raise
    except BaseException:
        _forget_file(namespace)
        raise
    _forget_file(namespace)


def _forget_file(namespace):
    namespace.pop('__file__', None)
    namespace.pop('__cached__', None)


def _new_main_namespace(loader):
    """Install a fresh ``__main__`` module, laid out as python's own; return its namespace.

    The runner's module is python's original ``__main__``: a program run in
    it would see (and could clobber) the runner's globals, and this module's
    frames would be the program's.
    """
    module = types.ModuleType('__main__')
    module.__loader__ = loader
    namespace = module.__dict__
    if MAIN_HAS_ANNOTATIONS:
        # Until PEP 649, python's __main__ starts with an empty __annotations__.
        namespace['__annotations__'] = {}
    namespace['__builtins__'] = builtins
    sys.modules['__main__'] = module
    return namespace


def _set_path0(entry, even_if_safe=False):
    """Put ``entry`` at ``sys.path[0]`` where python would put the program's entry.

    Python put the working directory there for ``-m greenthreads`` itself,
    unless -P or -I told it to put nothing; that slot is the runner's to
    hand on.  Without the slot nothing is added, except when ``even_if_safe``.
    """
    if not (getattr(sys.flags, 'safe_path', False) or sys.flags.isolated):
        sys.path[0] = entry
    elif even_if_safe:
        sys.path.insert(0, entry)


def _program_name():
    """The interpreter's name as python's own messages give it: as it was invoked."""
    return sys.orig_argv[0] if getattr(sys, 'orig_argv', None) else sys.executable


def _print_from_program_frames(exc):
    """Have ``exc``, about to escape, reported without the runner's frames.

    The frames above the program (runpy running this module, and this
    module) join the traceback as ``exc`` propagates, after this returns; so
    they are cut at report time, by wrapping ``sys.excepthook`` -- the
    program's own hook, if it set one -- once.  What is left is what python
    would show: the program's frames, preceded by runpy's for ``-m`` and a
    directory or zip archive, where python itself runs the program through
    runpy; nothing at all for a SyntaxError in a script.
    """
    hook = getattr(sys, 'excepthook', None)
    if hook is None:
        # The program removed the hook: python's complaint about that then
        # comes with the whole traceback, rather than one from a stand-in.
        return

    def excepthook(exc_type, value, tb):
        # Once only: whatever is reported later (from atexit, say) meets
        # the hook the program left, untouched.
        sys.excepthook = hook
        if value is exc:
            # The default hook prints the exception's own __traceback__,
            # whatever ``tb`` says.
            tb = _after_runner_frames(tb)
            value.__traceback__ = tb
        return hook(exc_type, value, tb)

    sys.excepthook = excepthook


def _after_runner_frames(tb):
    """The part of traceback ``tb`` after the runner's own frames (``tb`` if it has none)."""
    entry, seen = tb, False
    while entry is not None:
        ours = entry.tb_frame.f_globals is _RUNNER_GLOBALS
        if seen and not ours:
            return entry
        seen = seen or ours
        entry = entry.tb_next
    return None if seen else tb


if __name__ == '__main__':
    sys.exit(main())
