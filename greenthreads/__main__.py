"""``python -m greenthreads [-m module | script.py] [args...]``: run a program, patched.

Applies :func:`greenthreads.monkey.patch_all` first, then runs the target as
``__main__`` the way ``python`` would: ``sys.argv`` is the target and its
arguments, ``__file__`` and ``sys.path[0]`` are the script's, and the exit
status and tracebacks are the program's own.
"""

import os
import runpy
import sys

USAGE = 'usage: python -m greenthreads [-m module | script.py] [args...]'


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    from . import monkey
    monkey.patch_all()
    if argv[0] == '-m':
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name='__main__', alter_sys=True)
    else:
        script = argv[0]
        sys.argv = argv
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name='__main__')
    return 0


if __name__ == '__main__':
    sys.exit(main())
