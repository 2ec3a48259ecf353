"""greenthreads.green.multiprocessing: multiprocessing under the patch behaves as natively.

The programs below run natively and patched, with each start method, and
must print the same and exit the same: ``python -m greenthreads prog.py``
(the parent patched; forked children inherit the patch) and, for spawn and
forkserver, ``patch_all()`` at the top of the program (so that the children,
which import it again, are patched too).  The unit tests drive the
cooperative lock methods directly, in this (unpatched) process.
"""

import os
import signal
import subprocess
import sys
import time
import _thread

import multiprocessing
import pytest

import greenthreads
from greenthreads import _hub, _poller
from greenthreads.green.multiprocessing import cooperative_methods

from conftest import ROOT, run_script

pytestmark = pytest.mark.timeout(60)

METHODS = ['fork', 'spawn', 'forkserver']

HEADER = '''\
import sys
if sys.argv[2:] == ['patch']:
    import greenthreads.monkey
    greenthreads.monkey.patch_all()
'''

POOLS = HEADER + '''
import concurrent.futures, multiprocessing, multiprocessing.pool, threading

def square(x):
    return x * x

def leave(code):
    sys.exit(code)

def echo(conn):
    for item in iter(conn.recv, None):
        conn.send(item * 2)

def drain(q, out):
    total = 0
    for item in iter(q.get, None):
        total += item
    out.put(total)

if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    procs = [ctx.Process(target=leave, args=(code,)) for code in (0, 3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print('exitcodes', [p.exitcode for p in procs], [p.is_alive() for p in procs])

    pool = ctx.Pool(2)
    print('map', pool.map(square, range(6)))
    print('apply_async', pool.apply_async(square, (7,)).get(timeout=30))
    print('imap', sorted(pool.imap_unordered(square, range(4))))
    pool.close()
    pool.join()
    with ctx.Pool(2) as pool:            # __exit__ terminates it
        print('with', pool.map(square, [1, 2, 3]))
    # Workers replaced after each task: forked by the pool's own thread.
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        print('renewed', pool.map(square, range(3), chunksize=1))
    with multiprocessing.pool.ThreadPool(3) as pool:
        print('thread pool', pool.map(square, range(4)))

    q, out = ctx.Queue(), ctx.Queue()
    consumer = ctx.Process(target=drain, args=(q, out))
    consumer.start()
    feeders = [threading.Thread(target=lambda i=i: [q.put(i * 10 + j) for j in range(5)])
               for i in range(4)]
    for t in feeders:
        t.start()
    for t in feeders:
        t.join()
    q.put(None)
    print('queue', out.get(timeout=30))
    consumer.join()
    print('consumer', consumer.exitcode)

    # A duplex Pipe is a socketpair whose descriptors the Connection reads
    # with os.read: blocking, as natively, and cooperative in the parent.
    mine, theirs = ctx.Pipe()
    echoer = ctx.Process(target=echo, args=(theirs,))
    echoer.start()
    for item in (1, 'ab', [3]):
        mine.send(item)
        print('pipe', mine.recv(), mine.poll(0))
    mine.send(None)
    echoer.join()

    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        print('executor', list(ex.map(square, range(5))), ex.submit(square, 9).result(timeout=30))

    with ctx.Pool(2) as pool, concurrent.futures.ThreadPoolExecutor(4) as threads:
        print('mixed', list(threads.map(lambda x: pool.apply(square, (x,)), range(8))))
        pending = list(threads.map(lambda x: pool.apply_async(square, (x,)), range(3)))
        print('mixed async', [r.get(timeout=30) for r in pending])
    print('done')
'''

LOCKS = HEADER + '''
import multiprocessing, signal, threading, time

def in_threads(n, body, *args):
    threads = [threading.Thread(target=body, args=args) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

def hammer(lock, sem, rlock, counter, inside, most):
    for _ in range(15):
        with lock:
            value = counter.value
            time.sleep(0.0005)
            counter.value = value + 1
        with sem:
            with rlock:
                with rlock:
                    inside.value += 1
                    most.value = max(most.value, inside.value)
            time.sleep(0.001)
            with rlock:
                inside.value -= 1

def wait_event(event, out):
    out.put(('event', event.wait(30)))

def consume(cond, box, out):
    with cond:
        out.put(('condition', cond.wait_for(lambda: box.value > 0, 30), box.value))

def meet(barrier, out):
    out.put(('barrier', barrier.wait(30) >= 0))

def give(sem):
    sem.release()

class Stop(Exception):
    pass

def stop(signum, frame):
    raise Stop

if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    lock, sem, rlock = ctx.Lock(), ctx.Semaphore(2), ctx.RLock()
    counter, inside, most = (ctx.Value('i', 0, lock=False) for _ in range(3))
    args = (lock, sem, rlock, counter, inside, most)
    procs = [ctx.Process(target=in_threads, args=(3, hammer) + args) for _ in range(2)]
    for p in procs:
        p.start()
    in_threads(3, hammer, *args)
    for p in procs:
        p.join()
    print('counted', counter.value, 'at most', most.value, 'exitcodes', [p.exitcode for p in procs])

    out = ctx.Queue()
    event, cond, box, barrier = ctx.Event(), ctx.Condition(), ctx.Value('i', 0), ctx.Barrier(4)
    procs = [ctx.Process(target=in_threads, args=(2, wait_event, event, out)),
             ctx.Process(target=consume, args=(cond, box, out)),
             ctx.Process(target=meet, args=(barrier, out))]
    for p in procs:
        p.start()
    threads = [threading.Thread(target=wait_event, args=(event, out)),
               threading.Thread(target=consume, args=(cond, box, out))]
    threads += [threading.Thread(target=meet, args=(barrier, out)) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    event.set()
    with cond:
        box.value = 5
        cond.notify_all()
    for t in threads:
        t.join()
    for p in procs:
        p.join()
    print(sorted(out.get(timeout=30) for _ in range(9)), [p.exitcode for p in procs])

    # A wait interrupted by a signal handler takes nothing: the unit
    # released afterwards is there for the next acquire.
    empty = ctx.Semaphore(0)
    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        empty.acquire()
    except Stop:
        print('interrupted')
    giver = ctx.Process(target=give, args=(empty,))
    giver.start()
    giver.join()
    print('then', empty.acquire(timeout=30), empty.get_value(), empty.acquire(True, 0.1))
'''

PROGRAMS = {'pools': POOLS, 'locks': LOCKS}


def _run(argv, cwd, timeout=45):
    """Run python with ``argv`` in its own process group; (returncode, stdout, stderr).

    On timeout the whole group goes (worker processes, forkserver and
    resource tracker included), or they would keep the pipes open.
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.Popen([sys.executable, *argv], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f'{argv} timed out:\n{out}\n{err}')
    return proc.returncode, out, err


def _patched_runs(path, method):
    yield ['-m', 'greenthreads', path, method]
    if method != 'fork':
        # Patched in the program: its spawned children, which import it
        # again, are patched too (forked ones are the parent's copies).
        yield [path, method, 'patch']


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('program', sorted(PROGRAMS))
def test_program_runs_patched_as_natively(program, method, tmp_path):
    path = tmp_path / f'{program}_prog.py'
    path.write_text(PROGRAMS[program])
    native = _run([path.name, method], tmp_path)
    assert native[0] == 0, native
    for argv in _patched_runs(path.name, method):
        assert _run(argv, tmp_path) == native, argv


# ------------------------------------------------- the lock methods, in-process
def _hub_run(fn):
    # Throw into a parked green thread from the hub, which gets control back.
    _hub.get_hub().call_soon(lambda _: fn())


def _settle(predicate, timeout=5.0):
    """``predicate()`` once true, or its last value after ``timeout`` seconds of trying."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.001)      # the real sleep: the hub must not run meanwhile


class Stop(Exception):
    pass


def test_a_wait_parks_only_its_caller_and_times_out_as_the_c_lock():
    sem = multiprocessing.Semaphore(0)
    acquire, _ = cooperative_methods(sem._semlock)
    ticks = []
    ticker = greenthreads.Thread(target=lambda: [ticks.append(greenthreads.sleep(0.01))
                                                 for _ in range(10)])
    ticker.start()
    t0 = time.monotonic()
    assert acquire(True, 0.3) is False
    assert 0.25 < time.monotonic() - t0 < 2
    assert len(ticks) == 10
    ticker.join()
    assert acquire(True, -1) is False and acquire(False) is False
    sem.release()
    assert acquire(True, 5) is True and sem.get_value() == 0


def _held_by_a_real_thread(semlock):
    """Take ``semlock`` in a real OS thread (the C lock records it as the holder); return
    the real lock to release for that thread to give it back."""
    holding = _thread.allocate_lock()
    holding.acquire()
    go = _thread.allocate_lock()
    go.acquire()

    def holder():
        semlock.acquire()
        holding.release()
        go.acquire()
        semlock.release()
    _thread.start_new_thread(holder, ())
    holding.acquire()
    return go


def test_the_unit_goes_to_the_caller_with_the_c_lock_saying_so():
    lock = multiprocessing.Lock()
    acquire, release = cooperative_methods(lock._semlock)
    go = _held_by_a_real_thread(lock._semlock)
    got = []

    def taker():
        got.append(acquire(True, 10))
        got.append((lock._semlock._is_mine(), lock._semlock._count()))
        release()
    t = greenthreads.Thread(target=taker)
    t.start()
    greenthreads.sleep(0.05)
    assert got == []
    go.release()
    t.join()
    # Condition.wait asserts _is_mine() and releases _count() times.
    assert got == [True, (True, 1)]
    assert lock._semlock._get_value() == 1 and lock._semlock._count() == 0


def _parked_waiter(acquire, out):
    """A green thread parked in ``acquire()``; it appends the result, or 'stopped' if Stop is thrown in."""
    def waiter():
        try:
            out.append(acquire())
        except Stop:
            out.append('stopped')
    t = greenthreads.Thread(target=waiter)
    t.start()
    greenthreads.sleep(0.05)
    return t


def test_an_interrupted_wait_gives_back_the_unit_that_comes_later():
    sem = multiprocessing.Semaphore(0)
    acquire, _ = cooperative_methods(sem._semlock)
    out = []
    t = _parked_waiter(acquire, out)
    _hub_run(lambda: t._greenlet.throw(Stop))
    t.join()
    assert out == ['stopped']
    sem.release()     # taken by the real thread still waiting, which gives it back
    assert _settle(lambda: sem.get_value() == 1)
    assert acquire(True, 5) is True


def test_an_interrupted_wait_gives_back_the_unit_its_real_thread_already_took():
    sem = multiprocessing.Semaphore(0)
    acquire, _ = cooperative_methods(sem._semlock)
    out = []
    t = _parked_waiter(acquire, out)
    sem.release()
    # The real thread takes the unit; its caller has not run since.
    assert _settle(lambda: sem.get_value() == 0)
    time.sleep(0.05)
    _hub_run(lambda: t._greenlet.throw(Stop))
    t.join()
    assert out == ['stopped']
    assert sem.get_value() == 1


def test_an_rlock_excludes_the_other_green_threads_and_only_its_owner_releases():
    rlock = multiprocessing.RLock()
    acquire, release = cooperative_methods(rlock._semlock)
    trace = []

    def user(i):
        acquire()
        trace.append(('in', i))
        greenthreads.sleep(0.01)
        assert acquire(False)
        trace.append(('again', i, rlock._semlock._count()))
        release()
        release()
    threads = [greenthreads.Thread(target=user, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    greenthreads.sleep(0.001)
    assert acquire(False) is False and acquire(True, 0.001) is False
    for t in threads:
        t.join()
    assert trace == [('in', 0), ('again', 0, 2), ('in', 1), ('again', 1, 2),
                     ('in', 2), ('again', 2, 2)]
    with pytest.raises(AssertionError, match='not owned by thread'):
        release()
    holder = greenthreads.Thread(target=acquire)
    holder.start()
    holder.join()
    with pytest.raises(AssertionError, match='not owned by thread'):
        release()


@pytest.mark.parametrize('method', ['fork', 'spawn'])    # an unlinked semaphore, a named one
def test_an_rlock_held_by_another_os_thread_is_waited_for_and_taken_over(method):
    rlock = multiprocessing.get_context(method).RLock()
    acquire, release = cooperative_methods(rlock._semlock)
    go = _held_by_a_real_thread(rlock._semlock)
    got = []

    def taker():
        got.append(acquire(True, 10))
        got.append(acquire(True, 10))
        got.append((rlock._semlock._is_mine(), rlock._semlock._count()))
        release()
        release()
    t = greenthreads.Thread(target=taker)
    t.start()
    greenthreads.sleep(0.05)
    assert got == []
    go.release()
    t.join()
    assert got == [True, True, (True, 2)]
    assert rlock._semlock._get_value() == 1


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_an_rlock_held_by_a_thread_the_fork_left_behind_is_waited_for_in_the_child():
    # As natively for an RLock held by another OS thread at the fork: the
    # child waits for the parent's holder to release it, then takes it.
    rlock = multiprocessing.RLock()
    acquire, release = cooperative_methods(rlock._semlock)
    let_go = greenthreads.Event()

    def holder():
        acquire()
        let_go.wait()
        release()
    a = greenthreads.Thread(target=holder)
    a.start()
    greenthreads.sleep(0.01)
    r, w = os.pipe()
    forked = []

    def forker():
        pid = os.fork()
        if pid == 0:      # pragma: no cover - the child
            try:
                got = acquire(True, 10)
                os.write(w, b'%d %d' % (got, rlock._semlock._count()))
                release()
            finally:
                os._exit(0)
        forked.append(pid)
    b = greenthreads.Thread(target=forker)
    b.start()
    b.join()
    os.close(w)
    pid = forked[0]
    try:
        greenthreads.sleep(0.2)
        assert _poller.ready_now([r], 1) == []       # the child waits
        let_go.set()
        a.join()
        os.set_blocking(r, False)
        assert _settle(lambda: _poller.ready_now([r], 1), 10)
        assert os.read(r, 100) == b'1 1'
    finally:
        os.close(r)
        if not _settle(lambda: os.waitpid(pid, os.WNOHANG)[0], 5):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def test_waits_do_not_take_the_default_pools_threads():
    # More waits than the default pool has workers (ten): name resolution
    # and to_thread must not queue behind them.
    sem = multiprocessing.Semaphore(0)
    acquire, _ = cooperative_methods(sem._semlock)
    waiters = [greenthreads.Thread(target=acquire, args=(True, 10)) for _ in range(12)]
    for t in waiters:
        t.start()
    greenthreads.sleep(0.05)
    t0 = time.monotonic()
    assert greenthreads.to_thread(lambda: 42) == 42
    assert time.monotonic() - t0 < 1
    for _ in waiters:
        sem.release()
    for t in waiters:
        t.join()
    assert sem.get_value() == 0


def test_arguments_are_read_as_the_c_lock_reads_them():
    lock = multiprocessing.Lock()
    acquire, _ = cooperative_methods(lock._semlock)

    def outcome(fn, *args):
        try:
            return fn(*args)
        except Exception as exc:
            return type(exc), str(exc)
    free = [(True, 'x'), (False, 'x'), (True, []), ('x',), ('x', 0.01), (2.5,), (None, 0.01),
            (True, 0.01), (1,), (0,), (True, None)]
    for args in free:
        native = outcome(lock._semlock.acquire, *args)
        if native is True:
            lock._semlock.release()
        assert outcome(acquire, *args) == native, args
        if native is True:
            lock._semlock.release()
    lock._semlock.acquire()
    for args in [(True, 'x'), ('x', 0.01), (True, -1), (True, 0.01), (0,), (False, 5)]:
        assert outcome(acquire, *args) == outcome(lock._semlock.acquire, *args), args


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_has_a_fresh_thread_pool_and_still_reports_deadlocks():
    # The parent's pool workers do not exist in the child: counting them
    # left every job (so every to_thread and blocking wait) queued for ever.
    # And a worker may be handing back a result at the fork, holding the
    # hub's wake-up lock, which the child's workers need.
    assert greenthreads.to_thread(lambda: 1) == 1
    holding = _thread.allocate_lock()
    holding.acquire()
    done = _thread.allocate_lock()
    done.acquire()

    hub = _hub.get_hub()

    def hand_back():
        with hub.wakeup._lock:
            holding.release()
            done.acquire()
    _thread.start_new_thread(hand_back, ())
    holding.acquire()
    r, w = os.pipe()
    pid = os.fork()
    done.release()
    if pid == 0:      # pragma: no cover - the child
        try:
            os.write(w, b'%d' % greenthreads.to_thread(lambda: 42))
            lock = greenthreads.Lock()
            lock.acquire()
            try:
                lock.acquire()
            except greenthreads.DeadlockError:
                os.write(w, b' deadlock')
        finally:
            os._exit(0)
    os.close(w)
    try:
        if not _settle(lambda: os.waitpid(pid, os.WNOHANG)[0], 10):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.set_blocking(r, False)
        assert os.read(r, 100) == b'42 deadlock'
    finally:
        os.close(r)


def test_a_condition_on_a_lock_still_works_after_its_fork_reinit():
    # multiprocessing.Queue re-initialises its Condition(Lock()) in a forked
    # child; the condition's ownership check must follow the lock.
    cond = greenthreads.Condition(greenthreads.Lock())
    cond._at_fork_reinit()
    with cond:
        cond.notify()
    assert not cond._is_owned()


@pytest.fixture
def cooperative(monkeypatch):
    """multiprocessing locks made during the test wait cooperatively (as under the patch)."""
    import multiprocessing.synchronize
    from greenthreads.green.multiprocessing import SEMLOCK_METHODS
    for name, value in SEMLOCK_METHODS.items():
        monkeypatch.setattr(multiprocessing.synchronize.SemLock, name, value)


def test_a_condition_is_shared_by_green_threads(cooperative):
    # Its RLock is held across a blocking wait in notify(): the other green
    # threads of the process must stay out meanwhile.
    cond = multiprocessing.Condition()
    box = multiprocessing.Value('i', 0)
    got = []

    def consumer():
        with cond:
            got.append(cond.wait_for(lambda: box.value >= 3, 10))

    def producer():
        for _ in range(3):
            greenthreads.sleep(0.01)
            with cond:
                box.value += 1
                cond.notify_all()
    threads = [greenthreads.Thread(target=consumer) for _ in range(3)]
    threads.append(greenthreads.Thread(target=producer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [True] * 3
    event = multiprocessing.Event()
    waiters = [greenthreads.Thread(target=lambda: got.append(event.wait(10))) for _ in range(3)]
    for t in waiters:
        t.start()
    greenthreads.sleep(0.02)
    event.set()
    for t in waiters:
        t.join()
    assert got == [True] * 6


# ------------------------------------------------------------------ patching
def test_modules_are_patched_when_imported_and_keep_their_loader():
    proc = run_script('''
import sys
import greenthreads.monkey as monkey
monkey.patch_all()
assert 'multiprocessing.synchronize' not in sys.modules
import multiprocessing.synchronize as s, multiprocessing.connection as c
from greenthreads.green import multiprocessing as g, os as green_os
print(s.SemLock._make_methods is g.SEMLOCK_METHODS['_make_methods'],
      type(s.__loader__).__name__, s.__spec__.loader is s.__loader__,
      c.Connection._recv.__defaults__ == (green_os.read,),
      monkey.get_original(s.SemLock, '__enter__').__qualname__,
      any(type(f).__name__ == '_AfterImport' for f in sys.meta_path))
''', timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['True', 'SourceFileLoader', 'True', 'True',
                                   'SemLock.__enter__', 'False']


def test_modules_imported_before_patching_are_patched_at_once():
    proc = run_script('''
import multiprocessing, multiprocessing.connection as c, multiprocessing.synchronize as s
real_recv = c.Connection._recv
import greenthreads.monkey as monkey
monkey.patch_all()
from greenthreads.green import os as green_os
lock = multiprocessing.Lock()
print(type(lock.acquire.__self__).__name__, c.Connection._recv.__defaults__ == (green_os.read,),
      c.Connection._recv.__code__ is real_recv.__code__)
monkey.patch_all()   # idempotent
print(monkey.get_original(c.Connection, '_recv') is real_recv)
''', timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['_SemaphoreMethods', 'True', 'True', 'True']


def test_patch_all_multiprocessing_false_leaves_multiprocessing_alone():
    proc = run_script('''
import greenthreads.monkey as monkey
monkey.patch_all(multiprocessing=False)
import multiprocessing
print(type(multiprocessing.Lock().acquire).__name__)
''', timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['builtin_function_or_method']
