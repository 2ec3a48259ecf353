"""Run parts of CPython's own test suite on greenthreads, in a fresh interpreter.

    python tests/cpython_conformance.py < config.json

The config (JSON on stdin) says::

    {"suite": "test_threading", "mode": "patched" | "thread" | "native",
     "skip": [test ids (or Class.test_method) not to run], "timeout": seconds per test,
     "out": path of the results file}

``mode`` is ``patched`` for ``greenthreads.monkey.patch_all()``, ``thread``
for ``patch_thread()`` only, ``native`` for plain CPython (the baseline), and
``gevent`` for ``gevent.monkey.patch_all()`` (the anchor's figures in the
README, measured by hand with an interpreter that has gevent).
The patch is applied before the suite is imported, as ``python -m
greenthreads`` would.  Each test appends two JSON lines to ``out``:
``{"start": id}`` and then ``{"id": id, "outcome": ...}`` with outcome
"ok", "skipped: why", "FAIL: traceback" or "ERROR: traceback".  A test that
hangs longer than ``timeout`` kills the process (faulthandler prints every
thread's stack to stderr); the caller sees a start without an outcome.  The
watchdog also covers what runs between tests (class and module fixtures).
"""

import contextlib
import faulthandler
import json
import sys
import unittest

#: The lock_tests classes exactly as test_threading binds them to threading.
LOCK_TEST_CLASSES = ['LockTests', 'PyRLockTests', 'CRLockTests', 'EventTests',
                     'ConditionAsRLockTests', 'ConditionTests', 'SemaphoreTests',
                     'BoundedSemaphoreTests', 'BarrierTests']


def load(suite_name, patched=False):
    """The unittest suite called ``suite_name`` (after patching: imports happen here).

    ``patched``: the suite runs under ``patch_all()``.  test_queue tests
    two fresh copies of ``queue`` (``import_fresh_module``), past any patch:
    one with the C ``_queue``, one without.  The first is then the patched
    module, so the suite tests both our classes (its C* tests) and the
    stdlib's on green primitives (its Py* tests, as a subclass made before
    patching runs).
    """
    if suite_name == 'test_queue' and patched:
        with _fresh_imports_of('queue'):
            return load(suite_name)
    import importlib
    loader = unittest.defaultTestLoader
    if suite_name == 'lock_tests':
        from test import test_threading
        return unittest.TestSuite(loader.loadTestsFromTestCase(getattr(test_threading, name))
                                  for name in LOCK_TEST_CLASSES)
    if suite_name == 'thread_pool':
        return _thread_pool_tests(loader)
    # A dotted name is any importable module (the harness's own tests use one).
    module = suite_name if '.' in suite_name else f'test.{suite_name}'
    return loader.loadTestsFromModule(importlib.import_module(module))


@contextlib.contextmanager
def _fresh_imports_of(name):
    """Make ``import_fresh_module(name)`` that blocks nothing return module ``name`` as patched."""
    from test.support import import_helper
    fresh_import = import_helper.import_fresh_module

    def patched_module(module_name, fresh=(), blocked=(), **kwargs):
        if module_name == name and not blocked:
            return sys.modules[name]
        return fresh_import(module_name, fresh, blocked, **kwargs)
    import_helper.import_fresh_module = patched_module
    try:
        yield
    finally:
        import_helper.import_fresh_module = fresh_import


def _thread_pool_tests(loader):
    """The thread-pool part of test_concurrent_futures (a module before 3.12, a package since)."""
    import importlib
    import pkgutil
    package = importlib.import_module('test.test_concurrent_futures')
    modules = [package]
    if hasattr(package, '__path__'):
        modules = [importlib.import_module(f'{package.__name__}.{info.name}')
                   for info in pkgutil.iter_modules(package.__path__)
                   if info.name.startswith('test_') and info.name != 'test_process_pool']
    suite = unittest.TestSuite()
    for module in modules:
        for name in dir(module):
            obj = getattr(module, name)
            if (isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                    and (name.startswith('ThreadPool') or module.__name__.endswith('thread_pool'))):
                suite.addTests(loader.loadTestsFromTestCase(obj))
    return suite


def short_id(test_id):
    """``Class.test_method`` of a full test id (what exclusion lists name)."""
    return '.'.join(test_id.split('.')[-2:])


def is_listed(test_id, names):
    """Whether ``names`` lists the test, as ``Class.test_method`` or as ``test_method`` (any class)."""
    return short_id(test_id) in names or test_id.rsplit('.', 1)[-1] in names


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


class _Recorder(unittest.TestResult):
    """Writes each test's start and outcome to the results file as it happens."""

    def __init__(self, out, timeout):
        super().__init__()
        self.out = out
        self.timeout = timeout
        self.outcomes = {}

    def _write(self, record):
        self.out.write(json.dumps(record) + '\n')
        self.out.flush()

    def startTest(self, test):
        super().startTest(test)
        self._write({'start': test.id()})
        faulthandler.dump_traceback_later(self.timeout, exit=True)

    def stopTest(self, test):
        # Still armed for what runs between tests (tearDownClass, setUpModule...).
        faulthandler.dump_traceback_later(self.timeout, exit=True)
        self._write({'id': test.id(), 'outcome': self.outcomes.get(test.id(), 'ok')})
        super().stopTest(test)

    def addSkip(self, test, reason):
        self.outcomes[test.id()] = f'skipped: {reason}'

    def addFailure(self, test, err):
        self.outcomes[test.id()] = 'FAIL: ' + self._exc_info_to_string(err, test)

    def addError(self, test, err):
        if not isinstance(test, unittest.TestCase):
            # setUpClass/setUpModule failed: the class's tests never start.
            self._write({'id': str(test), 'outcome': 'ERROR: ' + self._exc_info_to_string(err, None)})
            return
        self.outcomes[test.id()] = 'ERROR: ' + self._exc_info_to_string(err, test)

    def addSubTest(self, test, subtest, err):
        if err is not None and test.id() not in self.outcomes:
            kind = 'FAIL' if issubclass(err[0], test.failureException) else 'ERROR'
            self.outcomes[test.id()] = f'{kind}: {subtest}: ' + self._exc_info_to_string(err, test)

    def addUnexpectedSuccess(self, test):
        self.outcomes[test.id()] = 'FAIL: unexpected success'


def run(suite, mode, skip=(), timeout=60, python=sys.executable, env=None, max_restarts=30):
    """Run ``suite`` in ``mode`` in child interpreters; test id -> outcome.

    A test that hangs (or kills its interpreter) gets "HANG: <stack dump>"
    and the run goes on in a new interpreter without the tests already done.
    """
    import os
    import signal
    import subprocess
    import tempfile
    outcomes = {}
    skip = set(skip)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'results.jsonl')
        cwd = os.path.join(tmp, 'cwd')
        os.mkdir(cwd)
        for _ in range(max_restarts):
            config = {'suite': suite, 'mode': mode, 'skip': sorted(skip | set(outcomes)),
                      'timeout': timeout, 'out': out}
            open(out, 'w').close()
            # In a process group of its own: when a test hangs, the watchdog
            # ends the child, but what the test started (a script spinning
            # until a signal that never comes) would live on and load the
            # machine for the rest of the run.  stderr goes to a file, not a
            # pipe, which such a leftover would hold open.
            with open(os.path.join(tmp, 'stderr'), 'w+') as err:
                # In a directory of its own, as regrtest runs them: the
                # tests leave files in the current directory.
                child = subprocess.Popen([python, os.path.abspath(__file__)],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=err, text=True, env=env, start_new_session=True,
                                         cwd=cwd)
                try:
                    child.communicate(json.dumps(config), timeout=timeout * 20)
                    late = ''
                except subprocess.TimeoutExpired:   # the watchdog itself failed
                    late = f'\nno result within {timeout * 20} s'
                finally:
                    try:
                        os.killpg(child.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    child.kill()
                    child.wait()
                err.seek(0)
                proc = subprocess.CompletedProcess(child.args, child.returncode, '', err.read() + late)
            started = done = None
            with open(out) as f:
                for line in f:
                    record = json.loads(line)
                    if 'done' in record:
                        done = True
                    elif 'start' in record:
                        started = record['start']
                    else:
                        outcomes[record['id']] = record['outcome']
                        started = None
            if done and proc.returncode != 0:
                outcomes['<exit>'] = f'HANG at exit (exit {proc.returncode}): ' + proc.stderr[-3000:]
            if started is None:
                if proc.returncode != 0 and not outcomes:
                    raise RuntimeError(f'{suite} ({mode}) did not run: {proc.stderr[-3000:]}')
                if not done:
                    # Died outside any test (a class or module fixture): the
                    # tests after it never ran.
                    outcomes['<exit>'] = (f'died between tests (exit {proc.returncode}): '
                                          + proc.stderr[-3000:])
                return outcomes
            outcomes[started] = f'HANG (exit {proc.returncode}): ' + proc.stderr[-3000:]
    raise RuntimeError(f'{suite} ({mode}): more than {max_restarts} tests hung')


def main():
    if len(sys.argv) > 1:
        # Exploring by hand: cpython_conformance.py SUITE MODE [TIMEOUT [JSON_OUT]]
        outcomes = run(sys.argv[1], sys.argv[2], timeout=float(sys.argv[3]) if sys.argv[3:] else 60)
        if sys.argv[4:]:
            with open(sys.argv[4], 'w') as f:
                json.dump(outcomes, f, indent=1)
        for tid, outcome in outcomes.items():
            print(tid, outcome.splitlines()[0] if outcome.strip() else outcome)
        return
    config = json.load(sys.stdin)
    if config['mode'] == 'patched':
        import greenthreads.monkey
        greenthreads.monkey.patch_all()
    elif config['mode'] == 'thread':
        import greenthreads.monkey
        greenthreads.monkey.patch_thread()
    elif config['mode'] == 'gevent':
        from gevent import monkey
        monkey.patch_all()
    skip = set(config.get('skip', ()))
    tests = [t for t in _flatten(load(config['suite'], patched=config['mode'] == 'patched'))
             if t.id() not in skip and not is_listed(t.id(), skip)]
    with open(config['out'], 'a') as out:
        faulthandler.dump_traceback_later(config.get('timeout', 60), exit=True)
        unittest.TestSuite(tests).run(_Recorder(out, config.get('timeout', 60)))
        out.write(json.dumps({'done': True}) + '\n')
    # Threads a test left behind must not hang the run at exit: the results are in.
    faulthandler.dump_traceback_later(config.get('timeout', 60), exit=True)


if __name__ == '__main__':
    main()
