"""Build: the hot modules (``greenthreads/_accel.py``'s list) compiled by Cython from their own source.

Everything else is in pyproject.toml.  Without Cython or a C compiler, or
with ``GREENTHREADS_PURE_PYTHON=1`` set, the install still succeeds, in
pure-Python mode, and says so in one line.
"""

import ast
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def _hot_modules():
    # Read, not imported: the package may not import here (no greenlet yet).
    with open(os.path.join(HERE, 'greenthreads', '_accel.py'), encoding='utf-8') as f:
        for node in ast.parse(f.read()).body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == 'HOT_MODULES':
                return ast.literal_eval(node.value)
    raise RuntimeError('greenthreads/_accel.py has no HOT_MODULES')


def _pure_python(reason):
    sys.stderr.write(f'greenthreads: installing in pure-Python mode (no compiled core): {reason}\n')


class OptionalBuildExt(build_ext):
    """build_ext that falls back to pure Python when an extension cannot be built."""

    def run(self):
        # The first extension that fails stops the build: one line, not one per module.
        try:
            super().run()
        except Exception as exc:  # noqa: B902 - no compiler, say, is not fatal
            _pure_python(exc)


def extensions():
    if os.environ.get('GREENTHREADS_PURE_PYTHON', '') not in ('', '0'):
        _pure_python('GREENTHREADS_PURE_PYTHON is set')
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _pure_python('Cython is not installed')
        return []
    sources = [os.path.join('greenthreads', *name.split('.')) + '.py' for name in _hot_modules()]
    try:
        return cythonize(sources, quiet=True,
                         compiler_directives={'language_level': 3, 'binding': True,
                                              'always_allow_keywords': True,
                                              # No pickling the C types cannot do either.
                                              'auto_pickle': False})
    except Exception as exc:  # noqa: B902 - a Cython that cannot translate them is not fatal
        _pure_python(f'Cython failed: {exc}')
        return []


setup(ext_modules=extensions(), cmdclass={'build_ext': OptionalBuildExt})
