"""Process-level behaviour, each in a fresh interpreter: exit, deadlock, Ctrl-C, fork.

Cross-cutting: each test is a whole program whose outcome takes several rooms
(_threads' shutdown, the hub's deadlock check, signals, fork).  What happens
once the interpreter finalises is _final's, in test_final.py.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT, run_script


def test_non_daemon_threads_finish_after_main_returns():
    proc = run_script('''
        import greenthreads as threading
        def worker(i):
            threading.sleep(0.05 * (i % 3))
            print('worker', i, 'done', flush=True)
        for i in range(5):
            threading.Thread(target=worker, args=(i,)).start()
        print('main returns', flush=True)
    ''')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == 'main returns'
    assert sorted(lines[1:]) == ['worker %d done' % i for i in range(5)]
    assert proc.stderr == ''


def test_threads_started_during_exit_are_waited_for_too():
    proc = run_script('''
        import greenthreads as threading
        def child():
            threading.sleep(0.05)
            print('child done', flush=True)
        def parent():
            threading.sleep(0.05)
            threading.Thread(target=child).start()
            print('parent done', flush=True)
        threading.Thread(target=parent).start()
    ''')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ['parent done', 'child done']


def test_daemon_threads_are_abandoned_at_exit():
    proc = run_script('''
        import greenthreads as threading
        def forever():
            try:
                threading.Event().wait()
            finally:
                print('daemon cleanup ran', flush=True)
        threading.Thread(target=forever, daemon=True).start()
        threading.sleep(0.01)
        print('bye', flush=True)
    ''')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ['bye']
    assert proc.stderr == ''


def test_exception_in_main_still_waits_for_non_daemon_threads():
    proc = run_script('''
        import greenthreads as threading
        def worker():
            threading.sleep(0.05)
            print('worker done', flush=True)
        threading.Thread(target=worker).start()
        raise SystemExit(3)
    ''')
    assert proc.returncode == 3
    assert proc.stdout.splitlines() == ['worker done']


def test_self_deadlock_is_reported_quickly():
    t0 = time.monotonic()
    proc = run_script('''
        import greenthreads as threading
        lock = threading.Lock()
        lock.acquire()
        def worker():
            with lock:
                pass
        threading.Thread(target=worker, name='w1').start()
        lock.acquire()
    ''', timeout=30)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 1
    assert 'greenthreads.DeadlockError' in proc.stderr
    assert "<_MainThread(MainThread, started" in proc.stderr
    assert '<Thread(w1, started' in proc.stderr
    assert 'waits on <locked greenthreads.Lock object' in proc.stderr
    assert elapsed < 10, elapsed   # generous for a slow CI machine; it is immediate


def test_deadlock_report_names_join_and_rlock_holder():
    proc = run_script('''
        import greenthreads as threading
        a = threading.RLock()
        b = threading.Event()
        def holder():
            with a:
                b.wait()
        h = threading.Thread(target=holder, name='holder')
        h.start()
        threading.sleep(0)
        def wants():
            a.acquire()
        w = threading.Thread(target=wants, name='wants')
        w.start()
        h.join()
    ''')
    assert proc.returncode == 1
    err = proc.stderr
    assert 'waits on join of <Thread(holder' in err
    assert "held by <Thread(holder" in err
    assert '<Thread(wants, started' in err


def test_deadlock_at_exit_is_reported_instead_of_hanging():
    proc = run_script('''
        import greenthreads as threading
        threading.Thread(target=threading.Event().wait, name='stuck').start()
        print('main done', flush=True)
    ''', timeout=30)
    assert proc.stdout.splitlines() == ['main done']
    assert 'non-daemon threads cannot finish at exit' in proc.stderr
    assert '<Thread(stuck, started' in proc.stderr


def test_a_signal_handler_that_can_wake_is_not_a_deadlock():
    # The usual "wait for SIGTERM" shape: the main thread waits on an Event
    # that only a signal handler sets.  That is not a deadlock.
    code = textwrap.dedent('''
        import signal, greenthreads as threading
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        print('ready', flush=True)
        print('stopped', stop.wait(), flush=True)
    ''')
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert proc.stdout.readline() == 'ready\n'
        time.sleep(0.3)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert out == 'stopped True\n', err
    assert proc.returncode == 0


@pytest.mark.parametrize('wait', ['t.join()', 'threading.sleep(30)', 'threading.Event().wait()',
                                  'spin()'])
def test_ctrl_c_reaches_the_main_thread_promptly(wait):
    code = textwrap.dedent('''
        import time, greenthreads as threading
        def background():
            while True:
                threading.sleep(0.05)
        def spin():
            # Ctrl-C lands while a green thread, not main, runs Python code.
            def busy():
                while True:
                    sum(range(1000))
                    threading.sleep(0)
            threading.Thread(target=busy, daemon=True).start()
            threading.Event().wait()
        t = threading.Thread(target=background, daemon=True)
        t.start()
        print('ready', flush=True)
        try:
            %s
        except KeyboardInterrupt:
            print('KeyboardInterrupt in', threading.current_thread().name, flush=True)
    ''' % wait)
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert proc.stdout.readline() == 'ready\n'
        time.sleep(0.2)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert out == 'KeyboardInterrupt in MainThread\n', err
    assert proc.returncode == 0, err
    assert took < 10, took   # it is immediate; the bound only keeps a hang from passing


def test_fork_child_has_only_the_forking_thread_and_a_fresh_hub():
    proc = run_script('''
        import os
        import greenthreads as threading
        lock = threading.Lock()
        lock.acquire()
        def parked():
            with lock:
                print('parked ran in', 'child' if os.getpid() != parent else 'parent', flush=True)
        def sleeper():
            threading.sleep(0.2)
            print('sleeper ran in', 'child' if os.getpid() != parent else 'parent', flush=True)
        parent = os.getpid()
        t1 = threading.Thread(target=parked, daemon=True)
        t2 = threading.Thread(target=sleeper)
        t1.start(); t2.start()
        threading.sleep(0.01)
        pid = os.fork()
        if pid == 0:
            lock.release()      # in the parent this would wake `parked`; here it is gone
            out = []
            c = threading.Thread(target=lambda: (threading.sleep(0.05), out.append('new')))
            c.start(); c.join()
            print('child:', out, [t.name for t in threading.enumerate()], lock.locked(), flush=True)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print('child exit', os.waitstatus_to_exitcode(status), flush=True)
        lock.release()
        t1.join(); t2.join()
    ''')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["child: ['new'] ['MainThread'] False", 'child exit 0',
                                        'parked ran in parent', 'sleeper ran in parent']
