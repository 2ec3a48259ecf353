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
