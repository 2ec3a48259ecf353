"""pytest-benchmark suites: every case on every backend, each backend in its own process.

    pytest benchmarks/ --benchmark-only

Anchors that are not installed (gevent, eventlet: the ``bench`` extra) are
skipped.  The timed call is a round trip to the backend's worker process; the
workloads take 10 ms to seconds, so the pipe adds noise well under 1 %.
``extra_info`` carries the worker's own timing (``us_per_op``) and measures
such as lock fairness.  Nothing here asserts a timing.
"""

import pytest

from benchmarks import cases
from benchmarks.runner import Worker, available
from benchmarks.worker import BACKENDS

_workers = {}


@pytest.fixture(scope='session', autouse=True)
def _close_workers():
    yield
    for w in _workers.values():
        w.close()


def _worker(backend):
    if backend not in _workers:
        _workers[backend] = Worker(backend)
    return _workers[backend]


@pytest.mark.timeout(600)
@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('case', [c for c in cases.CASES if c != 'sleepers'])
def test_case(benchmark, backend, case):
    if not available(backend):
        pytest.skip(f'{backend} is not installed (pip install -e .[bench])')
    if backend == 'asyncio' and getattr(cases.AsyncioCases, case) is None:
        pytest.skip(f'asyncio has no {case}')
    worker = _worker(backend)
    n = cases.size(case, backend)
    results = []
    benchmark.pedantic(lambda: results.append(worker.run(case, n)), rounds=3, iterations=1)
    last = results[-1]
    benchmark.extra_info.update({k: v for k, v in last.items() if k != 'seconds'})
    benchmark.extra_info['us_per_op'] = min(r['seconds'] for r in results) / last['ops'] * 1e6


@pytest.mark.timeout(600)
@pytest.mark.parametrize('backend', BACKENDS)
def test_sleepers(benchmark, backend):
    if not available(backend):
        pytest.skip(f'{backend} is not installed (pip install -e .[bench])')
    n = cases.size('sleepers', backend)
    results = []

    def one_run():
        with Worker(backend) as w:   # fresh process: peak RSS is this run's
            results.append(w.run('sleepers', n))
    benchmark.pedantic(one_run, rounds=1, iterations=1)
    benchmark.extra_info.update(results[-1])
