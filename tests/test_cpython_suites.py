"""CPython's own test suites, run on greenthreads and compared with plain CPython.

Each suite runs twice in fresh interpreters (tests/cpython_conformance.py):
natively, as the baseline, and under ``greenthreads.monkey.patch_all()``
(or ``patch_thread()`` for the primitives on their own).  Every test that
passes natively must pass patched, except the ones listed in EXCLUDED with
the reason.  A test that hangs is stopped after TIMEOUT seconds and counts
as failed; the run goes on without it.
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, 'tests'))
import cpython_conformance  # noqa: E402

TIMEOUT = 60

_NATIVE_ID = 'native_id is the kernel id of the OS thread; green threads share one OS thread'
_PRIVATE = "reads CPython's private thread state, which green threads do not have"

_SPINS = ('a thread spins in a loop that never blocks or sleeps; green threads are '
          'cooperative (no preemption), so no other thread runs until it stops')
_EVENT_COND = ("reads Event._cond, CPython's private Condition inside Event; our Event is "
               'built directly on a wait queue (no Condition), which is what makes an Event '
               'handoff cheap')

#: Tests that cannot pass on green threads, by suite, each with the reason.
#: Names are ``Class.test_method``, or ``test_method`` for every class that
#: has it; a name missing from a Python's suite is simply not run there.
EXCLUDED = {
    'test_threading': {
        'InterruptMainTests.test_can_interrupt_tight_loops': _SPINS,
        'ThreadTests.test_PyThreadState_SetAsyncExc':
            'raises an exception in another thread through ctypes and '
            'PyThreadState_SetAsyncExc, which needs an interpreter thread state per thread',
        'ThreadTests.test_various_ops': _NATIVE_ID,
        'ThreadTests.test_various_ops_small_stack': _NATIVE_ID,
        'ThreadTests.test_various_ops_large_stack': _NATIVE_ID,
        'ThreadTests.test_tstate_lock': _PRIVATE + ' (Thread._tstate_lock)',
        'ThreadTests.test_shutdown_locks': _PRIVATE + ' (threading._shutdown_locks)',
        'ThreadTests.test_disallow_instantiation':
            "type(threading.Lock()) must refuse instantiation like the C type "
            "_thread.lock (3.10-3.12); ours is the Python class threading.Lock is",
        'MiscTestCase.test__all__':
            "counts the names threading defines by their __module__; the patched "
            "names are greenthreads' objects",
        'EventTests.test_at_fork_reinit': _EVENT_COND,
    },
    'lock_tests': {'EventTests.test_at_fork_reinit': _EVENT_COND},
    'test_queue': {
        # (Under the patch its C* tests test the patched queue module and its
        # Py* tests a fresh stdlib copy, on green primitives: see
        # cpython_conformance.load.)
        # 3.13: reader threads poll q.get(False) in a loop that never blocks.
        'test_shutdown_all_methods_in_many_threads': _SPINS,
        'test_shutdown_immediate_all_methods_in_many_threads': _SPINS,
    },
    'test_signal': {
        'StressTest.test_stress_modifying_handlers':
            _SPINS + ' (one sets handlers, the other raises signals, both in loops that '
            'never block)',
    },
    'test_logging': {
        # 3.13: ``while support.sleeping_retry(...)`` tests a generator, which
        # is always true: the loop polls queue.empty() and never sleeps.
        'ConfigDictTest.test_config_queue_handler': _SPINS,
    },
    'thread_pool': {
        # Its one worker runs a job that submits itself again: the worker always
        # finds work, never blocks, and the main thread never runs again.
        'ThreadPoolExecutorTest.test_hang_global_shutdown_lock': _SPINS,
        'ThreadPoolShutdownTest.test_cancel_futures':
            'expects some of 50 jobs submitted right before shutdown(cancel_futures=True) '
            'to have been taken by the workers; a green thread started by start() first '
            'runs when its starter blocks, and the test never blocks in between, so all '
            '50 are cancelled',
    },
}

SUITES = ['test_threading', 'test_threading_local', 'test_queue', 'test_socketserver',
          'test_thread', 'thread_pool']

#: What the rest of the patch (sockets, select, ssl, signals, subprocesses,
#: os) must keep working, as the stdlib's servers and clients use it.
NETWORK_SUITES = ['test_socket', 'test_ssl', 'test_select', 'test_poll', 'test_selectors',
                  'test_signal', 'test_subprocess', 'test_httpservers', 'test_httplib',
                  'test_urllib2_localnet', 'test_wsgiref', 'test_xmlrpc', 'test_ftplib',
                  'test_smtplib', 'test_logging', 'test_os']

# They take about five minutes per interpreter: .ci/run runs them on the
# oldest Python and in the installed-wheel run (the newest), and sets this to
# 0 for the others.  GREENTHREADS_FULL_GRID=1 .ci/run runs every interpreter.
_RUN_NETWORK_SUITES = os.environ.get('GREENTHREADS_NETWORK_SUITES', '1') != '0'

_ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))


def _outcomes(suite, mode):
    skip = EXCLUDED.get(suite, {}) if mode != 'native' else ()
    return cpython_conformance.run(suite, mode, skip=skip, timeout=TIMEOUT, env=_ENV)


def _passed(outcome):
    return outcome == 'ok'


def _compare(suite, mode):
    if suite == 'thread_pool' and not _shipped('test_concurrent_futures'):
        pytest.skip(f'this Python ({sys.version.split()[0]}) ships no test.test_concurrent_futures')
    with ThreadPoolExecutor(2) as pool:
        native, patched = pool.map(lambda m: _outcomes(suite, m), ['native', mode])
    assert sum(map(_passed, native.values())) >= 5, native
    regressions = {tid: out for tid, out in native.items()
                   if _passed(out) and not _passed(patched.get(tid, 'did not run'))
                   and not cpython_conformance.is_listed(tid, EXCLUDED.get(suite, {}))}
    assert not regressions, '\n\n'.join(f'{tid}: {out[:3000]}'
                                        for tid, out in patched.items() if tid in regressions)
    for label, outcomes in (('natively', native), (f'under {mode}', patched)):
        if '<exit>' in outcomes:
            pytest.fail(f'{suite} {label}: {outcomes["<exit>"]}')
    return native, patched


def _shipped(module):
    import importlib.util
    return importlib.util.find_spec(f'test.{module}') is not None


@pytest.mark.timeout(900)
@pytest.mark.parametrize('suite', SUITES)
def test_cpython_suite_under_patch_all(suite):
    _compare(suite, 'patched')


@pytest.mark.timeout(900)
@pytest.mark.skipif(not _RUN_NETWORK_SUITES,
                    reason='GREENTHREADS_NETWORK_SUITES=0: .ci/run runs these on the oldest '
                           'and newest Python only')
@pytest.mark.parametrize('suite', NETWORK_SUITES)
def test_cpython_network_suite_under_patch_all(suite):
    _compare(suite, 'patched')


@pytest.mark.timeout(900)
def test_cpython_lock_tests_under_patch_thread_only():
    """The primitives' own tests with nothing but threading patched."""
    native, patched = _compare('lock_tests', 'thread')
    # CPython's own skips are its business; ours are listed in EXCLUDED.
    assert sum(map(_passed, patched.values())) >= 100


def test_every_exclusion_gives_a_reason():
    for suite, tests in EXCLUDED.items():
        assert suite in SUITES + NETWORK_SUITES + ['lock_tests']
        for name, reason in tests.items():
            assert name.rsplit('.', 1)[-1].startswith('test_') and len(reason) > 20


def test_a_hung_test_is_stopped_with_what_it_started(tmp_path):
    """The harness itself: a hang is reported, the run goes on, and a process
    the hung test started (which would spin for ever) does not outlive it."""
    pkg = tmp_path / 'hangpkg'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('')
    (pkg / 'suite.py').write_text(
        'import subprocess, sys, time, unittest\n'
        'class T(unittest.TestCase):\n'
        '    def test_a_hangs(self):\n'
        '        p = subprocess.Popen([sys.executable, "-c", "while True: pass"])\n'
        f'        open({str(tmp_path / "pid")!r}, "w").write(str(p.pid))\n'
        '        time.sleep(1000)\n'
        '    def test_b_runs(self):\n'
        '        pass\n')
    env = dict(_ENV, PYTHONPATH=str(tmp_path) + os.pathsep + _ENV['PYTHONPATH'])
    outcomes = cpython_conformance.run('hangpkg.suite', 'native', timeout=2, env=env)
    assert outcomes['hangpkg.suite.T.test_a_hangs'].startswith('HANG (exit 1): Timeout')
    assert outcomes['hangpkg.suite.T.test_b_runs'] == 'ok'
    try:
        with open(f'/proc/{(tmp_path / "pid").read_text()}/stat') as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        state = 'gone'
    assert state in ('gone', 'Z'), state      # killed (a zombie until init reaps it)
