"""Run parts of CPython's own test suite on greenthreads, in a fresh interpreter.

    python tests/cpython_conformance.py SUITE [EXCLUDED_TEST_ID ...]

``patch_thread()`` is applied first, so the suites' helper threads (started
through ``_thread.start_new_thread`` / ``threading.Thread``) are green and the
primitives they test are ours.  Prints one JSON object: test id -> outcome
("ok", "skipped: why", "FAIL: traceback", "ERROR: traceback").
"""

import json
import sys
import unittest

import greenthreads.monkey

greenthreads.monkey.patch_thread()

#: The lock_tests classes exactly as test_threading binds them to threading.
LOCK_TEST_CLASSES = ['LockTests', 'PyRLockTests', 'CRLockTests', 'EventTests',
                     'ConditionAsRLockTests', 'ConditionTests', 'SemaphoreTests',
                     'BoundedSemaphoreTests', 'BarrierTests']


def load(suite_name):
    loader = unittest.defaultTestLoader
    if suite_name == 'lock_tests':
        from test import test_threading
        return unittest.TestSuite(loader.loadTestsFromTestCase(getattr(test_threading, name))
                                  for name in LOCK_TEST_CLASSES)
    if suite_name == 'threading_local':
        from test import test_threading_local
        return loader.loadTestsFromModule(test_threading_local)
    raise SystemExit(f'unknown suite {suite_name!r}')


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


class _Recorder(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.outcomes = {}

    def addSuccess(self, test):
        self.outcomes.setdefault(test.id(), 'ok')

    def addSkip(self, test, reason):
        self.outcomes[test.id()] = f'skipped: {reason}'

    def addFailure(self, test, err):
        self.outcomes[test.id()] = 'FAIL: ' + self._exc_info_to_string(err, test)

    def addError(self, test, err):
        self.outcomes[test.id()] = 'ERROR: ' + self._exc_info_to_string(err, test)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            kind = 'FAIL' if issubclass(err[0], test.failureException) else 'ERROR'
            self.outcomes[test.id()] = f'{kind}: {subtest}: ' + self._exc_info_to_string(err, test)

    def addExpectedFailure(self, test, err):
        self.outcomes[test.id()] = 'ok'

    def addUnexpectedSuccess(self, test):
        self.outcomes[test.id()] = 'FAIL: unexpected success'


def main():
    suite_name, excluded = sys.argv[1], set(sys.argv[2:])
    tests = [t for t in _flatten(load(suite_name)) if t.id().split('.', 2)[-1] not in excluded]
    result = _Recorder()
    unittest.TestSuite(tests).run(result)
    print(json.dumps(result.outcomes))


if __name__ == '__main__':
    main()
