"""The cooperative queues: SimpleQueue, and Queue / LifoQueue / PriorityQueue with the stdlib contract."""

import collections
import copy
import pickle
import queue as std_queue
import threading as std_threading
import time
import types
import weakref

import pytest

import greenthreads
from greenthreads.green import queue as green_queue
from greenthreads.green.queue import SimpleQueue
from conftest import run_script, spawn, in_os_thread, error_of as _err

HAS_SHUTDOWN = hasattr(std_queue.Queue, 'shutdown')


def test_fifo_and_nowait():
    q = SimpleQueue()
    for i in range(5):
        q.put(i)
    assert q.qsize() == 5 and not q.empty()
    assert [q.get() for _ in range(4)] + [q.get_nowait()] == list(range(5))
    assert q.empty()
    with pytest.raises(std_queue.Empty):
        q.get_nowait()


@pytest.mark.parametrize('make', [SimpleQueue, lambda: green_queue.Queue()], ids=['SimpleQueue', 'Queue'])
def test_get_parks_until_put_and_hands_over_in_order(make):
    q = make()
    got = []
    threads = [spawn(lambda i=i: got.append((i, q.get()))) for i in range(3)]
    greenthreads.sleep(0)
    for item in 'abc':
        q.put(item)
    for t in threads:
        t.join()
    assert got == [(0, 'a'), (1, 'b'), (2, 'c')]


def test_get_timeout_raises_empty():
    q = SimpleQueue()
    t0 = time.monotonic()
    with pytest.raises(std_queue.Empty):
        q.get(timeout=0.05)
    assert time.monotonic() - t0 >= 0.04


@pytest.mark.parametrize('args', [(True, -1), (False, -1), (True, 'x')])
def test_get_argument_errors_match_stdlib(args):
    ours = _err(SimpleQueue().get, *args)
    theirs = _err(std_queue.SimpleQueue().get, *args)
    assert ours == theirs


def test_put_from_a_real_os_thread_wakes_a_green_getter():
    q = SimpleQueue()
    t = std_threading.Thread(target=lambda: (time.sleep(0.05), q.put('from os thread')))
    t.start()
    assert q.get(timeout=10) == 'from os thread'
    t.join()


def test_generic_alias():
    assert SimpleQueue[int] is not None


def test_stdlib_pools_queues_logging_urllib_under_patch_all():
    proc = run_script('''
import greenthreads.monkey
greenthreads.monkey.patch_all()
import concurrent.futures, queue, logging, io, threading, time, urllib.request, http.server
# concurrent.futures: 50 tasks of 0.1 s on 50 green workers
t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(50) as ex:
    results = list(ex.map(lambda i: (time.sleep(0.1), i * i)[1], range(50)))
pool_ok = results == [i * i for i in range(50)] and time.monotonic() - t0 < 2
natives = {t.native_id for t in threading.enumerate()}
# queue.Queue: still the stdlib class, on green primitives
q = queue.Queue(maxsize=2)
out = []
def producer():
    for i in range(100):
        q.put(i)
    q.put(None)
def consumer():
    while (item := q.get()) is not None:
        out.append(item)
        q.task_done()
    q.task_done()
ts = [threading.Thread(target=producer), threading.Thread(target=consumer)]
for t in ts: t.start()
q.join()
for t in ts: t.join()
queue_ok = (out == list(range(100)) and isinstance(q, greenthreads.monkey.get_original('queue', 'Queue'))
            and q.not_empty._lock is q.mutex)
# logging from many green threads
stream = io.StringIO()
logging.basicConfig(stream=stream, level=logging.INFO, format='%(threadName)s %(message)s')
ts = [threading.Thread(target=logging.info, args=('hello %d', i), name='w%d' % i) for i in range(20)]
for t in ts: t.start()
for t in ts: t.join()
log_ok = sorted(stream.getvalue().split('\\n'))[1:] == sorted('w%d hello %d' % (i, i) for i in range(20))
# urllib.request against a ThreadingHTTPServer in the same process
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
url = 'http://127.0.0.1:%d/' % srv.server_address[1]
bodies = []
ts = [threading.Thread(target=lambda: bodies.append(urllib.request.urlopen(url, timeout=10).read()))
      for _ in range(20)]
for t in ts: t.start()
for t in ts: t.join()
srv.shutdown()
print(pool_ok, queue_ok, log_ok, bodies == [b'ok'] * 20, len(natives))
''', timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['True', 'True', 'True', 'True', '1']


# ------------------------------------------------------------ Queue and kin
# Each class of ours beside the stdlib class it stands for: the scenarios
# below run on both, and what they observe must be the same.
PAIRS = [(green_queue.Queue, std_queue.Queue), (green_queue.LifoQueue, std_queue.LifoQueue),
         (green_queue.PriorityQueue, std_queue.PriorityQueue)]


def _hand_lifo(base):
    """A LIFO written by hand over ``base``'s hooks, as users write them."""
    class HandLifo(base):
        def _init(self, maxsize):
            self.queue = []

        def _qsize(self):
            return len(self.queue)

        def _put(self, item):
            self.queue.append(item)

        def _get(self):
            return self.queue.pop()
    return HandLifo


def _counting_qsize(base):
    """A subclass whose ``_qsize`` says one less than there is (the hooks are its own)."""
    class Undercounting(base):
        def _qsize(self):
            return max(0, len(self.queue) - 1)
    return Undercounting


def _failing(base):
    """A subclass whose next ``_put``/``_get`` raises on demand (CPython's FailingQueue)."""
    class Failing(base):
        fail_put = fail_get = False

        def _put(self, item):
            if self.fail_put:
                self.fail_put = False
                raise ArithmeticError('put')
            base._put(self, item)

        def _get(self):
            if self.fail_get:
                self.fail_get = False
                raise ArithmeticError('get')
            return base._get(self)
    return Failing


SUBCLASSES = [_hand_lifo, _counting_qsize, _failing]


def _outcome(fn, *args, **kwargs):
    try:
        return ('ok', fn(*args, **kwargs))
    except Exception as exc:
        return (type(exc).__name__, str(exc))


def _script(q):
    """Non-blocking operations on ``q`` (maxsize 3); every result or exception, in order."""
    out = []
    call = lambda fn, *a, **k: out.append(_outcome(fn, *a, **k))   # noqa: E731
    call(q.empty), call(q.full), call(q.qsize)
    for item in (5, 1, 4):
        call(q.put, item)
    call(q.put, 9, block=False), call(q.put_nowait, 9), call(q.put, 9, timeout=0)
    call(q.put, 9, timeout=-1)          # ValueError: the queue is bounded and full
    call(q.put, 9, True, 'soon')        # the stdlib's TypeError from timeout < 0
    call(q.full), call(q.qsize), call(lambda: q.unfinished_tasks)
    call(q.get, timeout=-1)             # ValueError even with items there
    call(q.get), call(q.get_nowait), call(q.get, False), call(q.get, block=False)
    call(q.get, timeout=0), call(q.get, True, 0.001), call(q.get, timeout='soon')
    q.maxsize = 1                       # shrink (CPython issue 10110)
    call(q.put, 7), call(q.put_nowait, 8), call(lambda: q.maxsize)
    q.maxsize = 0                       # unbounded: no timeout check at all
    call(q.put, 6, timeout=-1), call(q.put, 2, True, 'soon')
    for _ in range(4):
        call(q.task_done)
    call(q.task_done), call(q.task_done)    # too many: ValueError
    call(lambda: q.unfinished_tasks), call(lambda: sorted(q.queue))
    call(q.get), call(q.get), call(q.get), call(q.get, False)
    return out


@pytest.mark.parametrize('ours, stdlib', PAIRS, ids=['Queue', 'LifoQueue', 'PriorityQueue'])
def test_same_results_and_errors_as_the_stdlib_class(ours, stdlib):
    assert _script(ours(3)) == _script(stdlib(3))


@pytest.mark.parametrize('make', SUBCLASSES)
@pytest.mark.parametrize('ours, stdlib', PAIRS, ids=['Queue', 'LifoQueue', 'PriorityQueue'])
def test_subclass_hooks_work_as_with_the_stdlib(make, ours, stdlib):
    assert _script(make(ours)(3)) == _script(make(stdlib)(3))


def test_hand_written_lifo_is_lifo():
    q = _hand_lifo(green_queue.Queue)()
    for item in 'abc':
        q.put(item)
    assert q.queue == ['a', 'b', 'c'] and [q.get() for _ in range(3)] == ['c', 'b', 'a']


@pytest.mark.parametrize('ours, stdlib', PAIRS[:1])
def test_a_failing_hook_changes_nothing_else(ours, stdlib):
    def run(cls):
        q = _failing(cls)(2)
        q.put(1)
        q.fail_put = True
        first = _outcome(q.put, 2)
        q.fail_get = True
        second = _outcome(q.get)
        return first, second, q.unfinished_tasks, list(q.queue), q.mutex.locked(), q.get(), q.qsize()
    assert run(ours) == run(stdlib) == (('ArithmeticError', 'put'), ('ArithmeticError', 'get'),
                                        1, [1], False, 1, 0)


def test_the_stdlib_contract_attributes():
    q = green_queue.Queue(5)
    assert isinstance(q, std_queue.Queue) and isinstance(q, green_queue.Queue)
    assert type(q.mutex) is greenthreads.Lock
    for cond in (q.not_empty, q.not_full, q.all_tasks_done):
        assert type(cond) is greenthreads.Condition and cond._lock is q.mutex
    assert (q.maxsize, q.unfinished_tasks, type(q.queue)) == (5, 0, collections.deque)
    assert hasattr(q, 'is_shutdown') == HAS_SHUTDOWN
    q.put(1)
    assert not {'queue', 'mutex', 'not_empty', 'unfinished_tasks'} & set(vars(q))   # in slots
    q.colour = 'red'                    # instances still take any attribute
    assert q.colour == 'red' and weakref.ref(q)() is q
    twin = copy.copy(q)                 # as the stdlib's: the same deque and locks
    assert twin.queue is q.queue and twin.mutex is q.mutex and twin.get() == 1 and q.empty()
    assert twin.colour == 'red' and twin.maxsize == 5
    with pytest.raises(TypeError):
        pickle.dumps(q)                 # the locks refuse, as under the stdlib's
    alias = green_queue.Queue[int]      # (before 3.11 an alias's __class__ is its origin's)
    assert (type(alias), alias.__origin__, alias.__args__) == (types.GenericAlias, green_queue.Queue, (int,))
    for ours, stdlib in PAIRS[1:]:
        assert issubclass(ours, stdlib) and issubclass(ours, green_queue.Queue)
        assert ours.__name__ == stdlib.__name__ and ours._put is stdlib._put


@pytest.mark.parametrize('ours, stdlib', PAIRS, ids=['Queue', 'LifoQueue', 'PriorityQueue'])
def test_hooks_replaced_on_the_instance_are_called(ours, stdlib):
    # What mock.patch.object(q, '_put') does: the instance's hook wins, and
    # deleting it brings the class's back.
    def run(cls):
        q = cls()
        calls = []
        q._put = lambda item, put=q._put: (calls.append(('put', item)), put(item))
        q._get = lambda get=q._get: (calls.append('get'), get())[1]
        q.put(2), q.put(1)
        first = q.get()
        del q._put, q._get
        q.put(3)
        return calls, first, q.get(), q.get(), q.qsize()
    assert run(ours) == run(stdlib)
    assert run(ours)[0] == [('put', 2), ('put', 1), 'get']


def test_writable_queue_attribute_and_the_mutex_idiom():
    q = green_queue.Queue()
    q.put('old')
    q.queue = collections.deque(['x', 'y'])
    assert q.qsize() == 2 and q.get() == 'x'
    q.put('z')
    with q.mutex:                       # how programs clear or peek at a queue
        assert list(q.queue) == ['y', 'z']
        q.queue.clear()
    assert q.empty()
    q.queue = ['a list']                # not a deque: get() fails as the stdlib's does
    assert _outcome(q.get) == _outcome(std_queue.Queue.get, _with_queue(['a list']))
    assert not q.mutex.locked()


def _with_queue(items):
    q = std_queue.Queue()
    q.queue = items
    return q


def test_shadowed_state_runs_the_stdlib_methods():
    # A class attribute named like the state: the stdlib's own methods run,
    # reading the instance's attributes as they always do.
    class Sized(green_queue.Queue):
        maxsize = 2

        def __init__(self):
            super().__init__(self.maxsize)
    q = Sized()
    q.put(1), q.put(2)
    with pytest.raises(std_queue.Full):
        q.put_nowait(3)
    assert [q.get(), q.get()] == [1, 2] and q.unfinished_tasks == 2


def test_replaced_primitives_run_the_stdlib_methods():
    q = green_queue.Queue()
    q.mutex = greenthreads.RLock()      # some programs make it reentrant
    q.not_empty = greenthreads.Condition(q.mutex)
    q.not_full = greenthreads.Condition(q.mutex)
    q.all_tasks_done = greenthreads.Condition(q.mutex)
    got = []
    t = spawn(lambda: got.append(q.get(timeout=10)))
    greenthreads.sleep(0.01)
    with q.mutex:                       # reentrant: put inside still works
        q.put('item')
    t.join()
    q.task_done()
    assert got == ['item'] and q.unfinished_tasks == 0


@pytest.mark.parametrize('when', ['before', 'after'])
def test_a_condition_over_another_lock_fails_as_with_the_stdlib(when):
    # put() notifies not_empty holding not_full's lock: if not_empty has a lock
    # of its own, the stdlib's notify() raises, and so must ours.
    def run(cls, condition, lock):
        q = cls()
        if when == 'after':
            q.put('first')              # the fast path has seen the queue
        q.not_empty = condition(lock())
        return _outcome(q.put, 'x'), q.qsize(), q.mutex.locked()
    ours = run(green_queue.Queue, greenthreads.Condition, greenthreads.Lock)
    assert ours == run(std_queue.Queue, std_threading.Condition, std_threading.Lock)
    assert ours[0] == ('RuntimeError', 'cannot notify on un-acquired lock')


def test_put_on_a_full_queue_parks_until_a_get():
    q = green_queue.Queue(1)
    q.put('first')
    done = []
    t = spawn(lambda: (q.put('second'), done.append(True)))
    greenthreads.sleep(0.01)
    assert not done and q.full()
    assert q.get() == 'first'
    t.join()
    assert done and q.get_nowait() == 'second'


def test_timeouts_raise_full_and_empty_after_waiting():
    q = green_queue.Queue(1)
    t0 = time.monotonic()
    with pytest.raises(std_queue.Empty):
        q.get(timeout=0.05)
    q.put(1)
    with pytest.raises(std_queue.Full):
        q.put(2, timeout=0.05)
    assert time.monotonic() - t0 >= 0.09


def test_a_waiter_on_the_condition_itself_is_notified():
    # Code that waits on q.not_empty directly must be woken by put(): the
    # notify skipped when nobody waits is not skipped here.
    q = green_queue.Queue()
    seen = []

    def watch():
        with q.not_empty:
            while not q._qsize():       # (qsize() would take the mutex again)
                q.not_empty.wait(10)
            seen.append(q._qsize())
    t = spawn(watch)
    greenthreads.sleep(0.01)
    q.put('x')
    t.join()
    assert seen == [1]


def test_task_done_and_join():
    q = green_queue.Queue()
    done = []

    def worker():
        while (item := q.get()) is not None:
            greenthreads.sleep(0.001)
            done.append(item)
            q.task_done()
        q.task_done()
    t = spawn(worker)
    for i in range(5):
        q.put(i)
    q.put(None)
    q.join()
    assert done == list(range(5)) and q.unfinished_tasks == 0
    t.join()
    with pytest.raises(ValueError, match='task_done'):
        q.task_done()


def test_a_put_from_a_real_os_thread_wakes_a_green_getter():
    q = green_queue.Queue()
    t = in_os_thread(lambda: q.put('from an OS thread'))
    assert q.get(timeout=10) == 'from an OS thread'
    t.join()


def test_green_without_threading_patched():
    # Here threading is not patched: the stdlib Queue would block the OS thread.
    q = green_queue.LifoQueue()
    assert type(q.mutex) is greenthreads.Lock and type(q.not_empty) is greenthreads.Condition
    got = []
    t = spawn(lambda: got.append(q.get()))
    greenthreads.sleep(0)
    q.put('woken')
    t.join()
    assert got == ['woken']


@pytest.mark.skipif(not HAS_SHUTDOWN, reason='queue.Queue.shutdown() came in Python 3.13')
def test_shutdown_wakes_waiters_and_drains():
    q = green_queue.Queue(1)
    q.put('left')
    results = []

    def putter():
        try:
            q.put('never')
        except Exception as exc:
            results.append(type(exc))
    t = spawn(putter)
    greenthreads.sleep(0.01)
    q.shutdown()
    t.join()
    assert results == [std_queue.ShutDown] and q.is_shutdown
    assert q.get() == 'left'            # gets drain what is there...
    with pytest.raises(std_queue.ShutDown):
        q.get()                         # ...then raise
    with pytest.raises(std_queue.ShutDown):
        q.put_nowait(1)


@pytest.mark.skipif(not HAS_SHUTDOWN, reason='queue.Queue.shutdown() came in Python 3.13')
def test_shutdown_immediate_counts_the_dropped_items_done():
    q = green_queue.Queue()
    for i in range(3):
        q.put(i)
    q.get()
    q.task_done()
    getter_result = []
    joined = spawn(q.join)
    greenthreads.sleep(0.01)
    q.shutdown(immediate=True)
    joined.join(10)
    assert not joined.is_alive() and q.qsize() == 0 and q.unfinished_tasks == 0
    t = spawn(lambda: getter_result.append(_outcome(q.get)))
    t.join()
    assert getter_result == [('ShutDown', '')]


def test_patch_queue_makes_the_classes_ours_with_isinstance_kept():
    proc = run_script('''
import queue
class Early(queue.Queue):           # made before the patch: the stdlib methods
    pass
import greenthreads.monkey
from greenthreads.green import queue as green
greenthreads.monkey.patch_all()
import threading
original = greenthreads.monkey.get_original
print([getattr(queue, n) is getattr(green, n) for n in ('Queue', 'LifoQueue', 'PriorityQueue', 'SimpleQueue')])
print([isinstance(getattr(queue, n)(), original('queue', n)) for n in ('Queue', 'LifoQueue', 'PriorityQueue')])
class Late(queue.Queue):
    def _put(self, item):
        self.queue.append(item * 10)
out = []
for cls in (Early, Late, queue.Queue):
    q = cls(2)
    t = threading.Thread(target=lambda: out.append([q.get(timeout=5) for _ in range(3)]))
    t.start()
    for i in range(3):
        q.put(i, timeout=5)
    t.join()
print(out, type(Early().mutex) is greenthreads.Lock)
''')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        '[True, True, True, True]', '[True, True, True]',
        '[[0, 1, 2], [0, 10, 20], [0, 1, 2]] True']
