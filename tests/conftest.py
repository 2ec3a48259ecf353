import os
import signal
import subprocess
import sys
import textwrap
import time

import greenlet
import pytest

import greenthreads
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# .ci/wheel-test runs this suite from a copy of tests/ against the installed
# wheel: an import from anywhere but site-packages would test the checkout.
if os.environ.get('GREENTHREADS_TEST_INSTALLED'):
    _where = os.path.abspath(greenthreads.__file__)
    if 'site-packages' not in _where.split(os.sep) or _where.startswith(ROOT + os.sep):
        raise RuntimeError(f'GREENTHREADS_TEST_INSTALLED is set but greenthreads comes from {_where}')

# A run started in the background (``cmd &``, nohup, some CI runners) inherits
# SIGINT ignored, and so would every interpreter the tests start: Python then
# installs no KeyboardInterrupt handler, and the Ctrl-C tests would test
# nothing (or hang).  Catch it here, so children start with it at its default,
# as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=[threading, greenthreads], ids=['stdlib', 'greenthreads'])
def mod(request):
    """Run a test against the stdlib ``threading`` and against greenthreads:
    where behaviour must match, the same assertions hold for both."""
    return request.param


def run_script(code, *args, timeout=60, env_extra=None):
    """Run ``code`` in a fresh interpreter; return the CompletedProcess."""
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    if env_extra:
        env.update(env_extra)
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def same_as_native(code, timeout=30):
    """Run ``code`` natively and under the patch; assert both succeed and print the same; return it.

    ``code`` patches when ``sys.argv[1] == 'patched'`` (it is passed 'native' or 'patched').
    """
    native = run_script(code, 'native', timeout=timeout)
    patched = run_script(code, 'patched', timeout=timeout)
    assert native.returncode == 0, native.stderr
    assert patched.returncode == 0, patched.stderr
    assert patched.stdout == native.stdout
    return native.stdout


def spawn(fn, *args, daemon=False, **kwargs):
    """Start a green thread running ``fn(*args, **kwargs)``; return it."""
    t = greenthreads.Thread(target=fn, args=args, kwargs=kwargs, daemon=daemon)
    t.start()
    return t


def error_of(fn, *args):
    """``(type, message)`` of the exception ``fn(*args)`` raises, or None."""
    try:
        fn(*args)
    except Exception as exc:
        return type(exc), str(exc)
    return None


class SwitchCounter:
    """Counts greenlet switches while active (greenlet's own trace hook)."""

    def __enter__(self):
        self.count = 0
        self._old = greenlet.settrace(self._trace)
        return self

    def _trace(self, event, args):
        if event in ('switch', 'throw'):
            self.count += 1
        if self._old is not None:
            self._old(event, args)

    def __exit__(self, *exc):
        greenlet.settrace(self._old)


def in_os_thread(fn, delay=0.05):
    """Start a real OS thread that calls ``fn()`` after ``delay`` seconds; return it."""
    t = threading.Thread(target=lambda: (time.sleep(delay), fn()))
    t.start()
    return t


def os_thread_release_wakes_green_waiter(prim):
    """A green thread waits on held ``prim``; a real OS thread releases it.  Returns what acquire gave."""
    got = []
    waiter = spawn(lambda: got.append(prim.acquire(timeout=10)))
    greenthreads.sleep(0)
    os_thread = in_os_thread(prim.release)
    waiter.join()
    os_thread.join()
    return got


PATCH_THREAD_PRELUDE = '''
import greenthreads, greenthreads.monkey as monkey
monkey.patch_thread()
import threading, _thread, time, json, sys
'''


def run_under_patch_thread(code, **kw):
    """Run ``code`` in a fresh interpreter after ``patch_thread()``; assert it succeeds."""
    proc = run_script(PATCH_THREAD_PRELUDE + code, **kw)
    assert proc.returncode == 0, proc.stderr
    return proc
