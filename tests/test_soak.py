"""Soak tests: long-running use leaves memory, fds and the timer heap flat.

Each case runs ``tests/scripts/soak.py`` in a fresh interpreter under
``patch_all()`` (so the wait paths are the ones an unmodified program takes)
and checks both that the work was done and that nothing grew.  Every case
finishes in well under 20 s on the CI machine.
"""

import os

import pytest

from conftest import ROOT, run_script

SOAK = os.path.join(ROOT, 'tests', 'scripts', 'soak.py')
WAITS = 30_000


def soak(case, n, timeout=110):
    proc = run_script(f'import runpy, sys; sys.argv = [{SOAK!r}, {case!r}, "{n}"]; '
                      f'runpy.run_path({SOAK!r}, run_name="__main__")', timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()


# Every wait path an unmodified threaded program takes: what each case
# waits on is in soak.py's WAITS table.
@pytest.mark.parametrize('case', [
    'lock', 'rlock', 'condition', 'semaphore', 'bounded_semaphore', 'event', 'barrier', 'join',
    'queue_get', 'queue_put', 'simple_queue_get', 'socket_recv', 'select', 'poll', 'sleep'])
def test_timed_out_waits_keep_no_memory(case):
    done, kept = map(int, soak(case, WAITS))
    assert done == WAITS
    # A waiter left behind per wait is ~90 bytes (2.6 MB here); what stays is
    # tracemalloc's own bookkeeping and a few compacted-away leftovers.
    assert kept < 64 * 1024, f'{kept} bytes kept after {WAITS} timed-out waits'


@pytest.mark.parametrize('case', ['subprocess_wait', 'selector'])
def test_timed_out_millisecond_waits_keep_no_memory(case):
    # Each of these waits lasts at least 1 ms (the selectors round timeouts up
    # to whole milliseconds; a child's wait outlasts a waitpid), hence fewer.
    done, kept = map(int, soak(case, 5000))
    assert done == 5000 and kept < 64 * 1024, kept


def test_short_lived_os_threads_give_back_their_hubs():
    # Each real OS thread that waits gets a hub (an epoll fd and a pipe) and
    # greenlets; suspended ones (the hub loop, idle runners) are invisible to
    # the GC, and were kept with everything they held (~70 objects a thread).
    done, fds_kept, objects_kept = map(int, soak('os_threads', 300))
    assert done == 300
    assert fds_kept == 0, f'{fds_kept} fds left open by 300 finished OS threads'
    assert objects_kept < 1000, f'{objects_kept} objects kept by 300 finished OS threads'


def test_a_million_timers_armed_and_cancelled_keep_the_heap_small():
    armed, heap = map(int, soak('timers', 1_000_000))
    assert armed == 1_000_000
    assert heap <= 1024, f'{heap} entries in the timer heap with no timer armed'


def test_green_server_accepting_and_closing_20000_connections_stays_flat():
    done, all_served, rss, fds, objects = soak('connections', 20_000)
    assert int(done) == 20_000 and all_served == 'True'
    assert int(fds) == 0
    assert int(objects) < 1000, f'{objects} more objects after 20,000 connections'
    assert int(rss) < 4 << 20, f'RSS grew by {int(rss) >> 10} KB'


def test_a_million_spawn_join_cycles_stay_flat():
    done, rss, objects = map(int, soak('spawns', 1_000_000))
    assert done == 1_000_000
    assert objects < 1000, f'{objects} more objects after 1,000,000 threads'
    assert rss < 8 << 20, f'RSS grew by {rss >> 10} KB'
