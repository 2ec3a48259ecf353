"""__init__: the package's public face.

Every public name of the running Python's ``threading``, the four extras,
the stdlib's own shared types, classes that present themselves as
``greenthreads.X``, and an import that patches nothing.  (The behaviour
behind each name is tested in the file of the module that defines it.)
"""

import sys
import threading

import pytest

import greenthreads
from conftest import run_script

EXTRAS = ['DeadlockError', 'HubBlockingError', 'sleep', 'to_thread']


def test_all_names_of_threading_are_exported():
    missing = [n for n in threading.__all__ if not hasattr(greenthreads, n)]
    assert missing == []
    assert set(threading.__all__) <= set(greenthreads.__all__)


def test_all_is_threadings_all_followed_by_the_extras():
    assert greenthreads.__all__ == list(threading.__all__) + EXTRAS
    assert [n for n in greenthreads.__all__ if not hasattr(greenthreads, n)] == []


def test_the_extras_are_the_package_s_own():
    assert not any(hasattr(threading, n) for n in EXTRAS)
    assert issubclass(greenthreads.DeadlockError, RuntimeError)
    assert issubclass(greenthreads.HubBlockingError, RuntimeError)
    assert greenthreads.sleep(0) is None
    assert greenthreads.to_thread(threading.get_ident) != threading.get_ident()


def test_shared_types_are_the_stdlib_ones():
    # So that ``except threading.ThreadError`` etc. catch ours.
    assert greenthreads.ThreadError is threading.ThreadError
    assert greenthreads.BrokenBarrierError is threading.BrokenBarrierError
    assert greenthreads.ExceptHookArgs is threading.ExceptHookArgs
    assert greenthreads.TIMEOUT_MAX == threading.TIMEOUT_MAX
    assert greenthreads.__excepthook__ is threading.__excepthook__


@pytest.mark.skipif(sys.version_info < (3, 12), reason='added in 3.12')
def test_all_threads_variants_exist_on_312():
    assert callable(greenthreads.settrace_all_threads)
    assert callable(greenthreads.setprofile_all_threads)


@pytest.mark.parametrize('name', ['Lock', 'RLock', 'Condition', 'Semaphore', 'BoundedSemaphore',
                                  'Event', 'Barrier', 'Thread', 'Timer', 'local',
                                  'DeadlockError', 'HubBlockingError'])
def test_public_classes_present_themselves_as_greenthreads(name):
    cls = getattr(greenthreads, name)
    if cls.__flags__ & (1 << 8):    # Py_TPFLAGS_IMMUTABLETYPE: compiled Lock, RLock
        # An immutable type keeps its module's name (as _thread.lock does); its
        # objects show the public one.
        assert greenthreads.compiled and name in ('Lock', 'RLock')
        assert cls.__module__ == 'greenthreads._locks'
        assert repr(cls()).startswith(f'<unlocked greenthreads.{name} object ')
        return
    assert cls.__module__ == 'greenthreads'
    assert f'greenthreads.{name}' in repr(cls)


def test_allocate_lock_is_the_lock_factory_as_in_cpython():
    assert greenthreads._allocate_lock is greenthreads.Lock
    assert callable(threading._allocate_lock)


def test_importing_patches_nothing():
    # Importing the package leaves the stdlib alone: that is monkey's job.
    proc = run_script('''
        import _thread, socket, threading, time
        before = (threading.Thread, threading.Lock, _thread.start_new_thread, time.sleep,
                  socket.socket)
        import greenthreads
        after = (threading.Thread, threading.Lock, _thread.start_new_thread, time.sleep,
                 socket.socket)
        print(before == after, threading.Thread is not greenthreads.Thread)
    ''')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['True', 'True']
