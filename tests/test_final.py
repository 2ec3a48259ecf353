"""_final: the green primitives used while the interpreter finalises.

Once the interpreter finalises, weakref callbacks and __del__ methods still
run and greenlet no longer answers getcurrent(): the primitives must then
behave as in a single-threaded native program (see _final's docstring).
Most tests run a whole program natively and patched, and compare.
"""

import textwrap
import time

import greenlet
import pytest

import greenthreads
from greenthreads import _final
from conftest import run_script


# --------------------------------------------------------- before the end
def test_current_is_greenlets_getcurrent_while_greenlet_answers():
    assert _final.current() is greenlet.getcurrent()
    seen = []
    t = greenthreads.Thread(target=lambda: seen.append((_final.current(), greenlet.getcurrent())))
    t.start()
    t.join()
    [(ours, theirs)] = seen
    assert ours is theirs and ours is not greenlet.getcurrent()


def test_the_switch_over_rebinds_every_getcurrent_of_the_package_and_threads_still_run():
    # What the atexit callback does, called early: from then on the package
    # calls current(), which answers as greenlet does until it refuses.
    proc = run_script('''
        import sys, greenlet
        import greenthreads, greenthreads.monkey, greenthreads.green.socket
        from greenthreads import _final
        def holders():
            return sorted(name for name, module in list(sys.modules.items())
                          if name.startswith('greenthreads') and
                          greenlet.getcurrent in vars(module).values())
        before = holders()
        _final._at_exit()
        after = holders()
        out = []
        lock, ev = greenthreads.Lock(), greenthreads.Event()
        def worker(i):
            with lock:
                greenthreads.sleep(0.001)
                out.append((i, greenthreads.current_thread().name))
            ev.set()
        ts = [greenthreads.Thread(target=worker, args=(i,), name=f'w{i}') for i in range(3)]
        for t in ts:
            t.start()
        ev.wait(5)
        for t in ts:
            t.join(5)
        print(len(before) > 3, after, out, _final.current() is greenlet.getcurrent())
    ''')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == \
        "True ['greenthreads._final'] [(0, 'w0'), (1, 'w1'), (2, 'w2')] True\n"


# ------------------------------------------------------------ finalisation
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
