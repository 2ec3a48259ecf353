"""_green_thread: the ``_thread`` module's contract, on green threads.

What ``monkey.patch_thread()`` installs into ``_thread``.  The tests calling
``gt.*`` use the module directly, in this process (a green thread started
here runs on this OS thread's hub, as any other); those under "patched" run
a fresh interpreter where ``_thread`` itself is the green one.  Where the
real ``_thread`` answers too, the answers are compared.
"""

import contextvars
import json
import sys
import threading
import _thread

import pytest

import greenthreads
import greenthreads._green_thread as gt
from conftest import error_of, same_as_native, run_under_patch_thread


def start_and_wait(function, *args, **kwargs):
    """Start ``function(*args, **kwargs)`` with gt.start_new_thread; wait until it ended; return its ident."""
    done = greenthreads.Event()

    def body(*a, **k):
        try:
            function(*a, **k)
        finally:
            done.set()
    ident = gt.start_new_thread(body, args, kwargs)
    assert done.wait(10)
    greenthreads.sleep(0)       # let it finish its bookkeeping
    return ident


# ------------------------------------------------------------- the names
def test_what_concerns_the_os_thread_or_the_process_is_the_real_module_s():
    for name in ('get_native_id', 'TIMEOUT_MAX', 'error', 'exit', 'interrupt_main',
                 '_excepthook', '_ExceptHookArgs', 'stack_size'):
        assert getattr(gt, name) is getattr(_thread, name), name
    assert gt.daemon_threads_allowed is getattr(_thread, 'daemon_threads_allowed', None)


def test_lock_types_and_local_are_the_green_ones():
    assert gt.allocate_lock is gt.allocate is gt.LockType is gt.lock is greenthreads.Lock
    assert type(gt.allocate_lock()) is greenthreads.Lock
    assert gt.RLock is greenthreads.RLock
    assert gt._local is greenthreads.local
    assert gt.get_ident is greenthreads.get_ident
    assert gt.start_new is gt.start_new_thread


def test_every_name_in_all_exists_and_is_a_name_of_the_real_module():
    assert [n for n in gt.__all__ if not hasattr(gt, n)] == []
    # Less those the running Python's _thread does not have yet.
    assert set(gt.__all__) - set(dir(_thread)) <= {'lock', 'daemon_threads_allowed'}


# ---------------------------------------------------------- start_new_thread
def test_start_new_thread_runs_the_function_with_args_and_kwargs_and_returns_its_ident():
    seen = []
    ident = start_and_wait(lambda a, b=0: seen.append((a, b, gt.get_ident())), 1, b=2)
    assert isinstance(ident, int) and ident != 0
    assert seen == [(1, 2, ident)]


def test_start_new_thread_without_kwargs():
    seen = []
    start_and_wait(lambda *a: seen.append(a), 'x', 'y')
    assert seen == [('x', 'y')]


def test_idents_are_unique_per_live_green_thread_and_not_the_callers():
    release = greenthreads.Event()
    seen = []

    def body():
        seen.append(gt.get_ident())
        release.wait()
    returned = [gt.start_new_thread(body, ()) for _ in range(50)]
    greenthreads.sleep(0)
    try:
        assert sorted(seen) == sorted(returned)
        assert len(set(seen)) == 50
        assert gt.get_ident() not in seen
    finally:
        release.set()
        greenthreads.sleep(0)


def test_count_follows_the_running_green_threads():
    release = greenthreads.Event()
    before = gt._count()
    for _ in range(5):
        gt.start_new_thread(release.wait, ())
    assert gt._count() == before + 5
    release.set()
    greenthreads.sleep(0)
    greenthreads.sleep(0)
    assert gt._count() == before


def test_a_raw_thread_has_no_thread_object_but_a_dummy():
    seen = []
    start_and_wait(lambda: seen.append(greenthreads.current_thread()))
    dummy = seen[0]
    assert isinstance(dummy, greenthreads._DummyThread)
    assert dummy.name.startswith('Dummy-')
    # As CPython's: from 3.13 the dummy goes with its thread; before, it stays.
    forgotten = hasattr(threading, '_DeleteDummyThreadOnDel')
    assert (dummy in greenthreads.enumerate()) is not forgotten


def test_each_raw_thread_starts_with_a_fresh_context():
    var = contextvars.ContextVar('var', default='unset')
    token = var.set('caller')
    seen = []
    try:
        start_and_wait(lambda: (seen.append(var.get()), var.set('thread')))
        assert var.get() == 'caller'
    finally:
        var.reset(token)
    assert seen == ['unset']


def test_system_exit_ends_the_thread_silently(monkeypatch):
    reported, after = [], []
    monkeypatch.setattr(sys, 'unraisablehook', reported.append)
    start_and_wait(lambda: (gt.exit(), after.append('ran on')))
    start_and_wait(lambda: (gt.exit_thread(), after.append('ran on')))
    assert after == [] and reported == []


def test_an_uncaught_exception_goes_to_unraisablehook_naming_the_function(monkeypatch):
    reported = []
    monkeypatch.setattr(sys, 'unraisablehook', reported.append)

    def boom():
        raise ValueError('boom')
    gt.start_new_thread(boom, ())
    greenthreads.sleep(0)
    greenthreads.sleep(0)
    [args] = reported
    assert args.exc_type is ValueError and str(args.exc_value) == 'boom'
    assert args.err_msg.startswith('Exception ignored in thread started by')
    if sys.version_info >= (3, 13):
        assert repr(boom) in args.err_msg and args.object is None
    else:
        assert args.object is boom


@pytest.mark.parametrize('args', [(1, ()), (print, []), (print, None), (print, 'ab'),
                                  (print, (), 1), (print, (), [])],
                         ids=['not-callable', 'list-args', 'none-args', 'str-args', 'int-kwargs',
                              'list-kwargs'])
def test_bad_arguments_raise_what_the_real_module_raises(args):
    before = gt._count()
    ours = error_of(gt.start_new_thread, *args)
    assert ours is not None
    assert ours == error_of(_thread.start_new_thread, *args)
    assert gt._count() == before


# ----------------------------------------- 3.10-3.12: the sentinel of a thread
def test_set_sentinel_is_released_when_the_raw_thread_ends():
    sentinels = []
    release = greenthreads.Event()

    def body():
        sentinel = gt._set_sentinel()
        sentinel.acquire()
        sentinels.append(sentinel)
        release.wait()
    gt.start_new_thread(body, ())
    greenthreads.sleep(0)
    [sentinel] = sentinels
    assert sentinel.locked()
    release.set()
    assert sentinel.acquire(timeout=10)


# ----------------------------------------------- 3.13+: the joinable handles
def test_start_joinable_thread_returns_a_handle_that_joins():
    ran = []
    handle = gt.start_joinable_thread(lambda: (greenthreads.sleep(0.01), ran.append(gt.get_ident())))
    assert isinstance(handle, gt._ThreadHandle)
    assert handle.ident and not handle.is_done()
    assert f'ident={handle.ident}' in repr(handle)
    assert handle.join(timeout=0) is None and not handle.is_done()
    handle.join()
    assert handle.is_done() and ran == [handle.ident]
    handle.join()                     # again: returns at once


def test_a_handle_join_times_out_while_the_thread_runs():
    release = greenthreads.Event()
    handle = gt.start_joinable_thread(release.wait)
    handle.join(0.01)
    assert not handle.is_done()
    release.set()
    handle.join(10)
    assert handle.is_done()


def test_joinable_thread_errors():
    assert error_of(gt.start_joinable_thread, 1) == (TypeError, 'thread function must be callable')
    assert error_of(gt.start_joinable_thread, print, object()) == \
        (TypeError, "'handle' must be a _ThreadHandle")
    assert error_of(gt._ThreadHandle().join) == (RuntimeError, 'thread not started')
    handle = gt.start_joinable_thread(lambda: None)
    assert error_of(gt.start_joinable_thread, print, handle) == (RuntimeError, 'thread already started')
    handle.join()
    mine = []
    own = gt.start_joinable_thread(lambda: mine.append(error_of(own.join)))
    own.join()
    assert mine == [(RuntimeError, 'Cannot join current thread')]


def test_main_thread_ident_and_foreign_handles():
    assert gt._get_main_thread_ident() == greenthreads.main_thread().ident
    handle = gt._make_thread_handle(1234)
    assert handle.ident == 1234 and not handle.is_done()


# ---------------------------------------------------------------- patched
run = run_under_patch_thread


def test_start_new_thread_gives_green_threads():
    proc = run('''
natives, names = set(), []
done = threading.Event()
def worker(i, stop=None):
    time.sleep(0.05)
    natives.add(threading.get_native_id())
    names.append(threading.current_thread().name.split('-')[0])
    if len(names) == 50:
        done.set()
t0 = time.monotonic()
for i in range(50):
    _thread.start_new_thread(worker, (i,), {'stop': None})
assert _thread._count() == 50
done.wait(10)
print(len(natives), time.monotonic() - t0 < 2, set(names), _thread._count())
''')
    assert proc.stdout.split() == ['1', 'True', "{'Dummy'}", '0']


def test_start_new_thread_errors_match_cpython():
    proc = run('''
real = monkey.get_original('_thread', 'start_new_thread')
def err(fn, *a):
    try:
        fn(*a)
    except Exception as e:
        return type(e).__name__ + ': ' + str(e)
cases = [(1, ()), (print, []), (print, (), 1)]
print(json.dumps([[err(_thread.start_new_thread, *c), err(real, *c)] for c in cases]))
''')
    for ours, theirs in json.loads(proc.stdout):
        assert ours == theirs and ours is not None


def test_unhandled_exception_in_raw_thread_goes_to_unraisablehook():
    proc = run('''
seen = []
sys.unraisablehook = lambda args: seen.append((args.exc_type.__name__, args.err_msg, args.object))
def boom():
    raise ValueError('x')
_thread.start_new_thread(boom, ())
time.sleep(0.01)
print(seen[0][0], 'thread started by' in seen[0][1])
''')
    assert proc.stdout.split() == ['ValueError', 'True']


def test_interrupt_main_from_a_raw_thread_reaches_the_main_thread():
    out = same_as_native('''
        import sys
        if sys.argv[1] == 'patched':
            import greenthreads.monkey
            greenthreads.monkey.patch_thread()
        import _thread, threading, time
        def poke():
            time.sleep(0.05)
            _thread.interrupt_main()
            time.sleep(0.05)
        _thread.start_new_thread(poke, ())
        try:
            # Native, the flag is seen once the wait ends (no signal interrupts it).
            threading.Event().wait(1)
            print('no interrupt')
        except KeyboardInterrupt:
            print('KeyboardInterrupt in', threading.current_thread().name)
    ''')
    assert out == 'KeyboardInterrupt in MainThread\n'
