"""Process-level behaviour, each in a fresh interpreter: exit, deadlock, Ctrl-C."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import greenlet
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


# ---------------------------------------------------------------- finalisation
# Once the interpreter finalises, weakref callbacks and __del__ methods still
# run, and greenlet no longer answers getcurrent(): the green primitives must
# then behave as in a single-threaded native program, printing nothing
# native threading would not print.  Each test runs the same program natively
# and patched, and compares.  Automatic garbage collection is off in the
# programs, so what they leave in cycles is collected by the interpreter's
# last collection, during finalisation (as in a larger program whose last
# collection happens to come then).

_PATCH_ALL = 'from greenthreads import monkey; monkey.patch_all()\n'


def _run_native_and_patched(code, **kwargs):
    code = textwrap.dedent(code)
    return run_script(code, **kwargs), run_script(_PATCH_ALL + code, **kwargs)


def _assert_same_quiet_exit(native, patched):
    assert native.stderr == '', native.stderr       # the program itself is sound
    assert patched.stderr == native.stderr
    assert patched.returncode == native.returncode == 0
    assert patched.stdout == native.stdout


def test_threaded_werkzeug_server_exits_quietly():
    pytest.importorskip('flask', reason='flask is not installed (pip install -e .[test])')
    native, patched = _run_native_and_patched('''
        import gc, logging, threading, urllib.request
        from flask import Flask
        from werkzeug.serving import make_server

        gc.disable()
        logging.getLogger('werkzeug').setLevel(logging.WARNING)   # no dated request lines
        app = Flask(__name__)

        @app.route('/')
        def index():
            return 'hello from ' + ('a thread' if threading.current_thread() is not
                                    threading.main_thread() else 'main')

        server = make_server('127.0.0.1', 0, app, threaded=True)
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        for _ in range(3):
            with urllib.request.urlopen('http://127.0.0.1:%d/' % server.server_port) as r:
                print(r.status, r.read().decode(), flush=True)
        server.shutdown()
        serving.join()
        print('stopped', flush=True)
    ''')
    _assert_same_quiet_exit(native, patched)
    assert patched.stdout.splitlines() == ['200 hello from a thread'] * 3 + ['stopped']


def test_logging_handler_collected_at_exit_is_quiet():
    # logging's weakref callback for a collected handler takes logging's
    # module lock, a green RLock under the patch.
    native, patched = _run_native_and_patched('''
        import gc, logging
        gc.disable()
        logging.getLogger('app').warning('logged once')
        class Owner:
            def __init__(self):
                self.handler = logging.StreamHandler()
                self.handler.owner = self          # a cycle: freed by the last collection
        Owner()
        print('main done', flush=True)
    ''')
    assert native.stderr == 'logged once\n'
    assert patched.stderr == native.stderr
    assert patched.returncode == native.returncode == 0
    assert patched.stdout == native.stdout == 'main done\n'


_REPORT_AT_EXIT = '''
    import gc, os, sys, threading
    gc.disable()
    rlock, lock, cond, event = threading.RLock(), threading.Lock(), threading.Condition(), threading.Event()
    data = threading.local()
    data.value = 'main value'
    MAIN = threading.get_ident()

    def report(what, write=os.write, finalizing=sys.is_finalizing):
        # Everything a finaliser may reasonably do with threading, as text.
        with rlock:
            with rlock:
                owned = rlock._is_owned()
        with lock:
            held = lock.locked()
        with cond:
            cond.notify_all()
            notified = cond.wait(0.01)
        event.set()
        out = (what, finalizing(), owned, held, lock.locked(), notified, event.wait(), event.is_set(),
               threading.current_thread().name, threading.get_ident() == MAIN,
               getattr(data, 'value', None), rlock.acquire(False), lock.acquire(False))
        rlock.release()
        lock.release()
        write(1, (repr(out) + '\\n').encode())
'''


def test_weakref_callback_at_exit_uses_green_locks_quietly():
    native, patched = _run_native_and_patched(_REPORT_AT_EXIT + '''
    import weakref
    class Thing:
        pass
    thing = Thing()
    thing.self = thing                         # a cycle: freed by the last collection
    sys.keep = weakref.ref(thing, lambda ref: report('weakref callback'))   # outlives it
    del thing
    print('main done', flush=True)
    ''')
    _assert_same_quiet_exit(native, patched)
    assert patched.stdout.splitlines() == [
        'main done',
        "('weakref callback', True, True, True, False, False, True, True, 'MainThread', True, "
        "'main value', True, True)"]


def test_del_at_exit_uses_green_locks_quietly():
    native, patched = _run_native_and_patched(_REPORT_AT_EXIT + '''
    class Finalised:
        def __del__(self, report=report):
            report('__del__')
    thing = Finalised()
    thing.self = thing                         # a cycle: freed by the last collection
    del thing
    print('main done', flush=True)
    ''')
    _assert_same_quiet_exit(native, patched)
    assert patched.stdout.splitlines()[1].startswith("('__del__', True, True, True, False,")


def test_waits_at_exit_are_real_waits():
    # Timeouts pass in real time and end as timeouts, file descriptors are
    # polled (here a socket another process writes to, and that process's
    # exit); nothing else runs meanwhile.
    native, patched = _run_native_and_patched('''
        import gc, os, socket, subprocess, sys, threading, time, weakref
        gc.disable()
        lock, event, sem = threading.Lock(), threading.Event(), threading.Semaphore(0)
        lock.acquire()
        a, b = socket.socketpair()
        b.settimeout(0.05)
        mine, theirs = socket.socketpair()
        mine.settimeout(30)
        writer = subprocess.Popen(
            [sys.executable, '-c', 'import os, sys, time; time.sleep(0.3); '
                                   'os.write(int(sys.argv[1]), b"late")', str(theirs.fileno())],
            pass_fds=[theirs.fileno()])
        theirs.close()

        def at_exit(ref, write=os.write, finalizing=sys.is_finalizing, monotonic=time.monotonic,
                    sleep=time.sleep, timeout=socket.timeout):
            t0 = monotonic()
            out = [finalizing(), lock.acquire(timeout=0.05), event.wait(0.05),
                   sem.acquire(timeout=0.05)]
            sleep(0.05)
            sleep(0)
            try:
                b.recv(10)
            except timeout:
                out.append('recv timed out')
            a.send(b'data')
            out += [b.recv(10), monotonic() - t0 >= 0.2, mine.recv(10), writer.wait(30)]
            write(1, (repr(out) + '\\n').encode())

        class Thing:
            pass
        thing = Thing()
        thing.self = thing
        sys.keep = weakref.ref(thing, at_exit)
        del thing
    ''')
    _assert_same_quiet_exit(native, patched)
    assert patched.stdout == \
        "[True, False, False, False, 'recv timed out', b'data', True, b'late', 0]\n"


def test_daemon_thread_parked_at_exit_stays_parked():
    # The daemon thread never runs again, as a native one; what it holds
    # stays held, and a finaliser that wants it gives up after its timeout.
    native, patched = _run_native_and_patched('''
        import gc, os, sys, threading, time, weakref
        gc.disable()
        rlock, lock, started = threading.RLock(), threading.Lock(), threading.Event()

        def daemon():
            with rlock, lock:
                started.set()
                try:
                    threading.Event().wait()
                finally:
                    os.write(1, b'daemon cleanup ran\\n')

        threading.Thread(target=daemon, daemon=True).start()
        started.wait()

        def at_exit(ref, write=os.write, finalizing=sys.is_finalizing):
            out = (finalizing(), threading.current_thread().name, rlock.acquire(False),
                   lock.acquire(False), rlock.acquire(timeout=0.05), lock.acquire(timeout=0.05))
            write(1, (repr(out) + '\\n').encode())

        class Thing:
            pass
        thing = Thing()
        thing.self = thing
        sys.keep = weakref.ref(thing, at_exit)
        del thing
        print('main done', flush=True)
    ''')
    _assert_same_quiet_exit(native, patched)
    assert patched.stdout == "main done\n(True, 'MainThread', False, False, False, False)\n"


def test_a_wait_nothing_can_end_at_exit_is_reported_instead_of_hanging():
    # Native threading hangs for ever here (the holder never runs again).
    t0 = time.monotonic()
    proc = run_script(_PATCH_ALL + textwrap.dedent('''
        import gc, sys, threading, weakref
        gc.disable()
        lock, started = threading.Lock(), threading.Event()
        def holder():
            with lock:
                started.set()
                threading.Event().wait()
        threading.Thread(target=holder, daemon=True).start()
        started.wait()
        class Thing:
            pass
        thing = Thing()
        thing.self = thing
        sys.keep = weakref.ref(thing, lambda ref: lock.acquire())
        del thing
    '''), timeout=30)
    assert proc.returncode == 0
    assert 'greenthreads.DeadlockError: waiting on <locked greenthreads.Lock object' in proc.stderr
    assert 'at interpreter exit' in proc.stderr
    assert time.monotonic() - t0 < 20


@pytest.mark.skipif(greenlet.__version__.startswith('3.4.'),
                    reason='greenlet 3.4 stops answering getcurrent() during the atexit callbacks '
                           'registered before it was imported: no green thread can run there')
def test_green_threads_still_run_in_atexit_callbacks_after_the_switch_over():
    # An atexit callback registered before greenthreads was imported runs
    # after greenthreads' own, which rebinds every getcurrent of the package:
    # until the interpreter finalises, threads still run as before (here a
    # daemon worker that the callback hands its last jobs to).
    code = textwrap.dedent('''
        import atexit, sys
        def late():
            jobs.put('flush')
            jobs.join()
            print('late:', done, threading.current_thread().name, flush=True)
            if 'greenthreads' in sys.modules:
                import greenlet
                print('unswitched:', [name for name, module in sys.modules.items()
                                      if name.startswith('greenthreads') and
                                      greenlet.getcurrent in vars(module).values()], flush=True)
        atexit.register(late)
        PATCH
        import queue, threading, time
        jobs, lock, done = queue.Queue(), threading.RLock(), []
        def worker():
            while True:
                job = jobs.get()
                with lock:
                    time.sleep(0.01)
                    done.append((job, threading.current_thread().name))
                jobs.task_done()
        threading.Thread(target=worker, name='worker', daemon=True).start()
        jobs.put('job')
        print('main done', flush=True)
    ''')
    native = run_script(code.replace('PATCH', ''))
    patched = run_script(code.replace('PATCH', _PATCH_ALL))
    assert native.stderr == patched.stderr == ''
    assert native.returncode == patched.returncode == 0
    assert native.stdout == \
        "main done\nlate: [('job', 'worker'), ('flush', 'worker')] MainThread\n"
    assert patched.stdout == native.stdout + "unswitched: ['greenthreads._final']\n"
