"""The house's shape, checked mechanically against DESIGN.md.

* every import inside the package goes down the table of rooms (module-level
  or inside a function alike), so there is no import cycle;
* nothing outside ``_park`` touches a WaitQueue private;
* no Python-version check outside ``_compat`` (see tests/test_compat.py);
* no function longer than 60 lines, and the Hub class under 200;
* every module has its test file (``tests/test_X.py`` for ``X.py``,
  ``tests/test_green_X.py`` for ``green/X.py``).

The package is read from where it is imported, so the installed wheel is
checked too.
"""

import ast
import os

import pytest

import greenthreads
from greenthreads._park import WaitQueue

PACKAGE = os.path.dirname(os.path.abspath(greenthreads.__file__))
TESTS = os.path.dirname(os.path.abspath(__file__))

#: The rooms, bottom first (DESIGN.md's table; ``green`` is every module of
#: green/, which may import each other).  A room imports only rooms before it.
ROOMS = [
    '_accel', '_originals', '_compat',
    '_timers', '_poller', '_wakeup', '_idle',
    '_hub', '_park', '_locks', '_sync', '_threads', '_local', 'pool', '_final', '_green_thread',
    'green',
    'monkey', 'debug', 'testing', 'gunicorn', '__init__', '__main__',
]


def _modules():
    """``{dotted name relative to the package: path}`` of every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, '.')
                found[rel] = path
    return found


MODULES = _modules()


def _room(module):
    if module.startswith('green.') or module == 'green':
        return 'green'
    return module


def _imports(module, path):
    """``(line, imported module)`` for every import of a package module in ``path``."""
    tree = ast.parse(open(path, encoding='utf-8').read())
    package = module.split('.')[:-1]          # where ``from .`` starts
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            target = '.'.join(base + ([node.module] if node.module else []))
            if node.module:
                found.append((node.lineno, target))
            # ``from . import x`` and ``from .green import x`` name modules too.
            found.extend((node.lineno, f'{target}.{a.name}'.lstrip('.')) for a in node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for name in names:
                if name == 'greenthreads':
                    found.append((node.lineno, '__init__'))
                elif name.startswith('greenthreads.'):
                    found.append((node.lineno, name[len('greenthreads.'):]))
    return [(line, name) for line, name in found if name in MODULES and name != module]


def test_every_module_has_a_room():
    assert {_room(m) for m in MODULES} <= set(ROOMS)


@pytest.mark.parametrize('module', sorted(MODULES))
def test_imports_go_down_the_table_of_rooms(module):
    rank = ROOMS.index(_room(module))
    wrong = []
    for line, target in _imports(module, MODULES[module]):
        room = _room(target)
        if room == 'green' and _room(module) == 'green':
            continue            # green modules build on each other (checked for cycles below)
        if ROOMS.index(room) >= rank:
            wrong.append(f'{module}.py:{line} imports {target}')
    assert not wrong, 'imports that go up or sideways:\n' + '\n'.join(wrong)


def test_no_import_cycle():
    graph = {m: {t for _, t in _imports(m, p)} for m, p in MODULES.items()}
    visiting, done = [], set()

    def visit(m):
        if m in done:
            return
        if m in visiting:
            cycle = visiting[visiting.index(m):] + [m]
            raise AssertionError('import cycle: ' + ' -> '.join(cycle))
        visiting.append(m)
        for t in graph.get(m, ()):
            visit(t)
        visiting.pop()
        done.add(m)
    for m in sorted(graph):
        visit(m)


def _wait_queue_privates():
    names = {n for n in WaitQueue.__slots__ if n.startswith('_')}
    names |= {n for n in vars(WaitQueue) if n.startswith('_') and not n.startswith('__')}
    return names


def test_no_wait_queue_private_is_used_outside_park():
    privates = _wait_queue_privates()
    assert '_stale' in privates            # the test sees what it should
    used = []
    for module, path in MODULES.items():
        if module == '_park':
            continue
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            if isinstance(node, ast.Attribute) and node.attr in privates:
                used.append(f'{module}.py:{node.lineno} .{node.attr}')
            if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith('_park'):
                used.extend(f'{module}.py:{node.lineno} imports {a.name}'
                            for a in node.names if a.name == '_claim')
    assert not used, 'WaitQueue internals used outside _park:\n' + '\n'.join(used)


def test_functions_are_short_and_the_hub_fits_a_screen_or_three():
    long = []
    hub_lines = None
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f'{module}.{node.name}: {lines} lines')
            if module == '_hub' and isinstance(node, ast.ClassDef) and node.name == 'Hub':
                hub_lines = node.end_lineno - node.lineno + 1
    assert not long, 'functions over 60 lines:\n' + '\n'.join(long)
    assert hub_lines is not None and hub_lines < 200, f'Hub is {hub_lines} lines'


def test_every_module_has_its_test_file():
    missing = []
    for module in MODULES:
        if module == 'green.__init__':
            continue            # the package marker: nothing to test
        if module.startswith('green.'):
            name = 'test_green_' + module[len('green.'):] + '.py'
        elif module == '__main__':
            name = 'test_main.py'
        elif module == '__init__':
            name = 'test_init.py'
        else:
            name = 'test_' + module.lstrip('_') + '.py'
        if not os.path.exists(os.path.join(TESTS, name)):
            missing.append(f'{module}.py has no tests/{name}')
    assert not missing, '\n'.join(missing)
