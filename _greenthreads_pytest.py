"""The greenthreads pytest plugin (entry point ``greenthreads``): the ``greenthreads_explore`` marker.

Installing greenthreads registers this module with every pytest run of every
project.  It is a top-level module, not part of the package, so that such a
run imports greenthreads only when one of its tests carries the marker; the
work is :func:`greenthreads.testing.run_marked_test`.
"""

MARKER = ('greenthreads_explore(runs=100, preempt=True, virtual_clock=True, seed=None): run the test '
          'under many green-thread schedules (greenthreads.testing.explore); seed=N replays one')


def pytest_configure(config):
    config.addinivalue_line('markers', MARKER)


def pytest_pyfunc_call(pyfuncitem):
    if pyfuncitem.get_closest_marker('greenthreads_explore') is None:
        return None
    from greenthreads.testing import run_marked_test
    return run_marked_test(pyfuncitem)
