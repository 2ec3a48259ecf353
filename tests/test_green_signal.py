"""patch_signal: Python signal handlers run in the main thread, as with real threads."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT, run_script

PRELUDE = '''
import greenthreads.monkey
greenthreads.monkey.patch_all()
import os, signal, socket, threading, time

class Boom(Exception):
    pass

seen = []

def handler(signum, frame):
    seen.append(threading.current_thread().name)
    with lock:              # a handler may block: it runs in the main thread, not the hub
        time.sleep(0.01)
    if signum == signal.SIGUSR2:
        raise Boom()

lock = threading.Lock()
signal.signal(signal.SIGUSR1, handler)
signal.signal(signal.SIGUSR2, handler)

def kill_later(sig, delay=0.05):
    def kill():
        time.sleep(delay)
        os.kill(os.getpid(), sig)
    threading.Thread(target=kill).start()
'''


def _run(body):
    proc = run_script(PRELUDE + textwrap.dedent(body), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_getsignal_and_signal_return_the_handler_as_installed():
    assert _run('''
        print(signal.getsignal(signal.SIGUSR1) is handler)
        print(signal.signal(signal.SIGUSR1, signal.SIG_DFL) is handler)
        print(signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL)
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    ''') == ['True'] * 4


def test_a_handler_that_returns_lets_the_main_thread_wait_on():
    assert _run('''
        kill_later(signal.SIGUSR1)
        t = threading.Thread(target=time.sleep, args=(0.3,))
        t.start()
        t.join()
        print(t.is_alive(), seen)
    ''') == ['False', "['MainThread']"]


@pytest.mark.parametrize('wait', ['pair[0].recv(10)', 'threading.Event().wait()',
                                  'time.sleep(30)', 'signal.pause()', 'busy_join()'])
def test_a_handler_exception_comes_out_of_the_main_threads_wait(wait):
    assert _run('''
        def busy_join():
            # The signal lands while another green thread runs Python code.
            def busy():
                end = time.monotonic() + 30
                while not seen and time.monotonic() < end:
                    time.sleep(0)
            t = threading.Thread(target=busy)
            t.start()
            t.join()
        pair = socket.socketpair()
        kill_later(signal.SIGUSR2)
        try:
            %s
        except Boom:
            print('Boom in', threading.current_thread().name, seen)
    ''' % wait) == ['Boom', 'in', 'MainThread', "['MainThread']"]


def test_pause_returns_after_a_handler_ran():
    assert _run('''
        kill_later(signal.SIGUSR1)
        print(signal.pause(), seen)
    ''') == ['None', "['MainThread']"]


def test_pause_after_a_handler_ran_waits_for_the_next_signal():
    # The first signal's wake-up is for the threads pausing when it came:
    # a pause() that begins after it must wait for another signal.
    assert _run('''
        os.kill(os.getpid(), signal.SIGUSR1)    # handled now, nobody pausing
        t0 = time.monotonic()
        kill_later(signal.SIGUSR1, 0.2)
        signal.pause()
        print(time.monotonic() - t0 > 0.15, len(seen))
    ''') == ['True', '2']


def test_python_functions_report_the_signal_module():
    # As CPython's test_signal requires of every non-builtin function in signal.
    assert _run('''
        import inspect
        print(sorted({f.__module__ for f in vars(signal).values()
                      if inspect.isroutine(f) and not inspect.isbuiltin(f)}))
        print(inspect.isbuiltin(signal.pause))
    ''') == ["['signal']", 'False']


def test_only_the_main_thread_may_set_handlers():
    assert _run('''
        def other():
            try:
                signal.signal(signal.SIGUSR1, signal.SIG_DFL)
            except ValueError as exc:
                print(exc)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        print(signal.getsignal(signal.SIGUSR1) is handler)
    ''') == 'signal only works in main thread of the main interpreter True'.split()


def test_handlers_installed_before_patching_also_run_in_the_main_thread():
    proc = run_script('''
        import os, signal, threading as std
        names = []
        signal.signal(signal.SIGUSR1, lambda *a: names.append(std.current_thread().name))
        import greenthreads.monkey
        greenthreads.monkey.patch_all()
        import threading, time
        def kill():
            os.kill(os.getpid(), signal.SIGUSR1)
            end = time.monotonic() + 30
            while not names and time.monotonic() < end:
                time.sleep(0)    # busy: the handler must still run in main, not here
        t = threading.Thread(target=kill)
        t.start()
        t.join()
        print(names)
    ''')
    assert proc.stdout.split() == ["['MainThread']"], proc.stderr


def test_ctrl_c_from_outside_interrupts_a_socket_call_in_the_main_thread():
    code = textwrap.dedent('''
        import socket, sys
        a, b = socket.socketpair()
        print('ready', flush=True)
        try:
            a.recv(10)
        except KeyboardInterrupt:
            import threading
            print('KeyboardInterrupt in', threading.current_thread().name, flush=True)
    ''')
    proc = subprocess.Popen([sys.executable, '-c', 'import greenthreads.monkey; '
                             'greenthreads.monkey.patch_all()\n' + code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert proc.stdout.readline() == 'ready\n'
        time.sleep(0.2)    # into recv()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert out == 'KeyboardInterrupt in MainThread\n', err
    assert proc.returncode == 0, err


def test_a_handler_queued_behind_one_that_raised_still_runs_promptly():
    assert _run('''
        ev = threading.Event()
        signal.signal(signal.SIGUSR1, lambda s, f: (seen.append('h1'), 1 / 0))
        signal.signal(signal.SIGUSR2, lambda s, f: (seen.append('h2'), ev.set()))
        def send_both():
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGUSR2)
        threading.Thread(target=send_both).start()
        try:
            while True:
                time.sleep(0)
        except ZeroDivisionError:
            pass
        start = time.monotonic()
        print(ev.wait(10), time.monotonic() - start < 5, seen)
    ''') == ['True', 'True', "['h1',", "'h2']"]


def test_the_frame_is_where_the_main_thread_was_interrupted():
    assert _run('''
        frames = []
        signal.signal(signal.SIGUSR1, lambda s, f: frames.append(f.f_code.co_name))
        def main_waits_here():
            kill_later(signal.SIGUSR1)
            t = threading.Thread(target=time.sleep, args=(0.2,))
            t.start()
            t.join()
        main_waits_here()
        print(frames)
    ''') == ["['main_waits_here']"]


def test_many_pausing_threads_and_a_fast_timer_signal():
    # Signals land while the pause queue itself is being worked on.
    assert _run('''
        hits = [0]
        signal.signal(signal.SIGALRM, lambda s, f: hits.__setitem__(0, hits[0] + 1))
        def pauser():
            for _ in range(50):
                signal.pause()
        for _ in range(1000):
            threading.Thread(target=pauser, daemon=True).start()
        time.sleep(0.01)
        signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
        end = time.monotonic() + 20
        while time.monotonic() < end and hits[0] < 500:
            time.sleep(0.001)
        signal.setitimer(signal.ITIMER_REAL, 0)
        print(hits[0] >= 500)
    ''') == ['True']


def test_a_foreign_wakeup_fd_does_not_hide_signals_from_the_hub():
    # Another library set the signal wake-up fd first: the hub leaves it, and
    # must still return from its poll when a handler was noticed there.
    proc = run_script('''
        import os, signal, sys
        r, w = os.pipe()
        os.set_blocking(w, False)
        signal.set_wakeup_fd(w)
        import greenthreads.monkey
        greenthreads.monkey.patch_all()
        import subprocess, threading
        signal.signal(signal.SIGTERM, lambda s, f: sys.exit(3))
        subprocess.Popen(['sh', '-c', 'sleep 0.2; kill -TERM %d' % os.getpid()])
        threading.Event().wait()
    ''', timeout=30)
    assert proc.returncode == 3, proc.stderr


def test_after_fork_from_a_green_thread_the_child_handles_signals():
    assert _run('''
        got = []
        signal.signal(signal.SIGUSR1, lambda s, f: got.append(threading.current_thread().name))
        def child():
            out = [threading.main_thread() is threading.current_thread()]
            signal.signal(signal.SIGUSR2, signal.SIG_IGN)     # allowed: it is the main thread now
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(100):
                if got:
                    break
                time.sleep(0.01)
            print(out + got, flush=True)
        def worker():
            pid = os.fork()
            if pid == 0:
                try:
                    child()
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
        t = threading.Thread(target=worker, name='forker')
        t.start()
        t.join()
    ''') == ["[True,", "'forker']"]
