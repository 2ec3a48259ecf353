"""greenthreads.testing: seeded schedules, the virtual clock, explore, the pytest plugin."""

import ast
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

import greenthreads
from greenthreads import testing


def lost_update(locked=False):
    """Two threads add one to a shared counter by read, then write on the next line."""
    counter = [0]
    lock = greenthreads.Lock()

    def add():
        if locked:
            lock.acquire()
        value = counter[0]
        counter[0] = value + 1
        if locked:
            lock.release()
    threads = [greenthreads.Thread(target=add) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter[0] == 2, f'lost an update: {counter[0]}'


def test_explore_finds_a_lost_update_and_its_seed_replays_it():
    with pytest.raises(testing.ScheduleFailure) as caught:
        testing.explore(lost_update, runs=100)
    failure = caught.value
    assert isinstance(failure.exception, AssertionError)
    assert 'lost an update: 1' in str(failure)
    assert f'seed={failure.seed}' in str(failure)
    for _ in range(3):             # the same schedule, every time
        with pytest.raises(AssertionError, match='lost an update: 1'):
            testing.run(lost_update, seed=failure.seed, preempt=True)


def test_the_locked_version_passes_every_schedule():
    assert testing.explore(lambda: lost_update(locked=True), runs=100) == 100


def test_without_preemption_a_race_that_never_blocks_is_not_interleaved():
    assert testing.explore(lost_update, runs=30, preempt=False) == 30


def _switch_order(yields=3, threads=4):
    order = []

    def work(i):
        for _ in range(yields):
            order.append(i)
            greenthreads.sleep(0)
    ts = [greenthreads.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return tuple(order)


def test_the_same_seed_gives_the_same_interleaving_and_seeds_differ():
    for seed in (0, 7):
        assert testing.run(_switch_order, seed=seed) == testing.run(_switch_order, seed=seed)
    orders = {testing.run(_switch_order, seed=seed) for seed in range(20)}
    assert len(orders) > 10
    assert all(sorted(order) == sorted(_switch_order_counts()) for order in orders)


def _switch_order_counts(yields=3, threads=4):
    return [i for i in range(threads) for _ in range(yields)]


def test_a_hundred_threads_sleep_an_hour_in_no_time():
    def sleepers():
        start, wall = time.monotonic(), time.time()
        threads = [greenthreads.Thread(target=time.sleep, args=(3600,)) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - start, time.time() - wall
    began = time.perf_counter()
    advanced, wall_advanced = testing.run(sleepers)
    assert time.perf_counter() - began < 1.0
    assert advanced == 3600 and wall_advanced == 3600       # exactly
    assert time.monotonic is testing._real_monotonic        # the real clock again, outside


def test_timeouts_expire_on_the_virtual_clock():
    def waits():
        start = time.monotonic()
        event, lock, cond = greenthreads.Event(), greenthreads.Lock(), greenthreads.Condition()
        assert event.wait(10) is False
        lock.acquire()
        assert lock.acquire(timeout=20) is False
        with cond:
            assert cond.wait_for(lambda: False, 30) is False
        fired = []
        timer = greenthreads.Timer(40, fired.append, args=(time.monotonic(),))
        timer.start()
        timer.join()
        return time.monotonic() - start, fired[0] - start
    began = time.perf_counter()
    elapsed, timer_started = testing.run(waits, seed=3)
    assert time.perf_counter() - began < 1.0
    assert elapsed == pytest.approx(100) and timer_started == pytest.approx(60)


def test_real_time_without_the_virtual_clock():
    def naps():
        start = time.monotonic()
        time.sleep(0.05)
        return time.monotonic() - start
    assert testing.run(naps, virtual_clock=False) >= 0.05


def test_a_deadlock_fails_the_run_and_explore_names_its_seed():
    def deadlock():
        lock = greenthreads.Lock()
        lock.acquire()
        lock.acquire()
    with pytest.raises(greenthreads.DeadlockError, match=r'testing\.run.* waits on .*Lock'):
        testing.run(deadlock)
    with pytest.raises(testing.ScheduleFailure) as caught:
        testing.explore(deadlock, runs=5)
    assert caught.value.seed == 0 and isinstance(caught.value.exception, greenthreads.DeadlockError)


def test_an_exception_that_ends_a_thread_fails_the_run(capsys):
    def crashes():
        t = greenthreads.Thread(target=lambda: 1 / 0)
        t.start()
        return 'returned'
    with pytest.raises(ZeroDivisionError):
        testing.run(crashes)
    assert 'ZeroDivisionError' in capsys.readouterr().err     # reported as usual too


def test_run_returns_what_fn_returns_and_joins_its_threads():
    finished = []

    def starts_and_returns():
        greenthreads.Thread(target=lambda: (greenthreads.sleep(5), finished.append(1))).start()
        return 42
    assert testing.run(starts_and_returns) == 42 and finished == [1]


def test_explore_rejects_no_runs():
    with pytest.raises(ValueError):
        testing.explore(lambda: None, runs=0)


def test_every_package_global_bound_to_the_monotonic_clock_follows_the_virtual_one():
    package = os.path.dirname(greenthreads.__file__)
    found = {}
    for folder, _, files in os.walk(package):
        for name in files:
            if not name.endswith('.py'):
                continue
            module = os.path.relpath(os.path.join(folder, name), package)[:-3].replace(os.sep, '.')
            tree = ast.parse(open(os.path.join(folder, name), encoding='utf-8').read())
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and node.module == 'time':
                    for alias in node.names:
                        if alias.name == 'monotonic':
                            found[module] = alias.asname or alias.name
                elif isinstance(node, ast.Assign) and ast.unparse(node.value) == 'time.monotonic':
                    found[module] = node.targets[0].id
    found.pop('testing', None)
    assert found == testing._CLOCK_GLOBALS


@pytest.mark.greenthreads_explore(runs=100)
def test_the_marker_explores_a_locked_counter():
    lost_update(locked=True)


#: lost_update for a test module of its own (with whichever ``threading`` it imports).
ADD_TWICE = '''
def add_twice():
    counter = [0]
    def add():
        value = counter[0]
        counter[0] = value + 1
    threads = [threading.Thread(target=add) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter[0] == 2
'''


@pytest.mark.timeout(120)
def test_the_pytest_plugin_reports_the_seed_that_fails(tmp_path):
    (tmp_path / 'test_race.py').write_text(ADD_TWICE + textwrap.dedent('''
        import pytest
        import greenthreads as threading

        SEED = None

        @pytest.mark.greenthreads_explore(runs=100)
        def test_race():
            add_twice()

        @pytest.mark.greenthreads_explore(seed=SEED)
        def test_replay():
            add_twice()
    '''))
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           '-k', 'test_race', str(tmp_path)],
                          capture_output=True, text=True, timeout=100, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'ScheduleFailure' in proc.stdout and 'replay it with' in proc.stdout
    seed = int(re.search(r'run\(fn, seed=(\d+)', proc.stdout).group(1))
    source = (tmp_path / 'test_race.py').read_text().replace('SEED = None', f'SEED = {seed}')
    (tmp_path / 'test_race.py').write_text(source)
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           '-k', 'test_replay', str(tmp_path)],
                          capture_output=True, text=True, timeout=100, cwd=tmp_path)
    assert proc.returncode == 1 and f'seed {seed} failed' in proc.stdout, proc.stdout + proc.stderr


def test_runs_give_back_their_os_thread_hub_and_greenlets():
    import gc
    import greenlet

    def threads():
        for t in [greenthreads.Thread(target=time.sleep, args=(1,)) for _ in range(10)]:
            t.start()

    def count():
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, (greenlet.greenlet, testing._ScheduleHub)))
    testing.explore(threads, runs=10)
    before = count()
    testing.explore(threads, runs=200)
    assert count() - before < 20


def test_every_clock_of_the_time_module_reads_the_run():
    def reads():
        start = (time.monotonic(), time.monotonic_ns(), time.perf_counter(), time.perf_counter_ns(),
                 time.time(), time.time_ns())
        time.sleep(60)
        end = (time.monotonic(), time.monotonic_ns(), time.perf_counter(), time.perf_counter_ns(),
               time.time(), time.time_ns())
        return [b - a for a, b in zip(start, end)]
    assert testing.run(reads) == [pytest.approx(60), pytest.approx(60e9)] * 3


@pytest.mark.timeout(120)
def test_the_marker_in_a_patched_process_explores_stdlib_threading(tmp_path):
    (tmp_path / 'test_patched.py').write_text(ADD_TWICE + textwrap.dedent('''
        import queue, threading, time
        import pytest

        @pytest.mark.greenthreads_explore(runs=100)
        def test_race():
            add_twice()

        @pytest.mark.greenthreads_explore(runs=20)
        def test_timeouts_on_the_virtual_clock():
            start = time.monotonic()
            with pytest.raises(queue.Empty):
                queue.Queue().get(timeout=3600)
            event = threading.Event()
            threading.Timer(7200, event.set).start()
            assert event.wait() and time.monotonic() - start == 3600 + 7200
    '''))
    proc = subprocess.run([sys.executable, '-m', 'greenthreads', '-m', 'pytest', '-q', '-p',
                           'no:cacheprovider', str(tmp_path)],
                          capture_output=True, text=True, timeout=100, cwd=tmp_path)
    assert '1 failed, 1 passed' in proc.stdout, proc.stdout + proc.stderr
    assert 'FAILED test_patched.py::test_race' in proc.stdout


def test_frozen_library_code_is_never_preempted():
    import importlib._bootstrap
    import random

    class Hub:
        rng = random.Random(0)
    preempter = testing._Preempter(Hub, 1.0)

    class Frame:
        f_code = importlib._bootstrap._ModuleLock.acquire.__code__
    assert Frame.f_code.co_filename.startswith('<frozen')
    assert preempter.trace(Frame, 'call', None) is None
    Frame.f_code = lost_update.__code__
    assert preempter.trace(Frame, 'call', None) is not None


def test_the_clock_waits_for_a_job_out_in_another_os_thread():
    from greenthreads._originals import real_sleep

    def job_then_timeout():
        order = []
        event = greenthreads.Event()

        def timed_wait():
            event.wait(1)
            order.append('timeout')
        t = greenthreads.Thread(target=timed_wait)
        t.start()
        greenthreads.to_thread(real_sleep, 0.05)   # in a real OS thread: real time
        order.append('job')
        t.join()
        return order
    assert testing.run(job_then_timeout) == ['job', 'timeout']
