"""Which modules run compiled, and the switch that makes them run as plain Python.

The hot modules (:data:`HOT_MODULES`) are plain Python that the build also
compiles with Cython, from the same source, into extension modules beside
the ``.py`` files (``setup.py`` reads the list from here).  The import system
prefers the extension; with ``GREENTHREADS_PURE_PYTHON=1`` in the
environment at import, :func:`install` makes it take the ``.py`` instead.
:func:`compiled` says which runs.  A bottom room: stdlib only, imported by
the package before anything else.
"""

import importlib.machinery
import importlib.util
import os
import sys

__all__ = ['HOT_MODULES', 'PURE_PYTHON', 'install', 'compiled']

#: The modules the build compiles (dotted names within the package).
HOT_MODULES = ('_timers', '_poller', '_hub', '_park', '_locks', '_sync', 'green.socket', 'green.queue')

#: True when the environment asks for the pure-Python modules.
PURE_PYTHON = os.environ.get('GREENTHREADS_PURE_PYTHON', '') not in ('', '0')

_PACKAGE = __name__.rpartition('.')[0]
# A source checkout (an editable install), where a hot module may have been
# edited since it was built; an installed wheel's files are never edited.
_IN_SOURCE_TREE = os.path.exists(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'setup.py'))


class _SourceOnly:
    """A meta path finder that finds the hot modules as their ``.py`` source.

    In pure-Python mode always; otherwise, in a source checkout, a module
    whose source is newer than its extension (edited since the last
    ``pip install -e .``), so a stale build never runs in place of the code
    beside it.
    """

    @staticmethod
    def find_spec(name, path=None, target=None):
        if not name.startswith(_PACKAGE + '.') or name[len(_PACKAGE) + 1:] not in HOT_MODULES or not path:
            return None
        base = name.rpartition('.')[2]
        for folder in path:
            source = os.path.join(folder, base + '.py')
            if os.path.exists(source) and (PURE_PYTHON or _IN_SOURCE_TREE and _stale(folder, base, source)):
                loader = importlib.machinery.SourceFileLoader(name, source)
                return importlib.util.spec_from_file_location(name, source, loader=loader)
        return None


def _stale(folder, base, source):
    built = [os.path.join(folder, base + suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    built = [os.path.getmtime(p) for p in built if os.path.exists(p)]
    return bool(built) and os.path.getmtime(source) > max(built)


def install():
    """Make the hot modules import from source where they must (call before importing them).

    An installed package in compiled mode needs no finder: none is added, so
    the program's other imports do not pass through one.
    """
    if (PURE_PYTHON or _IN_SOURCE_TREE) and not any(f is _SourceOnly for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceOnly)


def compiled():
    """True if every hot module that is imported runs compiled (and at least one is)."""
    modules = [sys.modules.get(f'{_PACKAGE}.{name}') for name in HOT_MODULES]
    modules = [m for m in modules if m is not None]
    return bool(modules) and all(
        isinstance(getattr(m.__spec__, 'loader', None), importlib.machinery.ExtensionFileLoader)
        for m in modules)
