"""Soak cases, run one per interpreter under ``patch_all()``: ``soak.py CASE N``.

Each case repeats one thing many times after a warm-up and prints
``<what it counted> <growth>`` on one line: the test checks the count (the
work was done) and that the growth stayed flat.  Growth is measured where the
leak would show: tracemalloc's traced bytes for timed-out waits, the number
of open fds for OS threads, the resident set for connections and spawns, the
timer heap's length for timers; and, for connections and spawns, the
number of objects the garbage collector tracks (a leak of any Python object
per cycle shows there long before it shows in the resident set).
"""

import greenthreads.monkey
greenthreads.monkey.patch_all()

import atexit              # noqa: E402  (after the patch, as a user's program would)
import gc                  # noqa: E402
import os                  # noqa: E402
import queue               # noqa: E402
import selectors           # noqa: E402
import select              # noqa: E402
import socket              # noqa: E402
import subprocess          # noqa: E402
import sys                 # noqa: E402
import threading           # noqa: E402
import time                # noqa: E402
import tracemalloc         # noqa: E402

import greenthreads        # noqa: E402
from greenthreads._hub import get_hub   # noqa: E402

T = 1e-6       # a timeout that expires at the hub's next turn


def timed_out_waits(case, n):
    """``n`` waits of one kind, each ending by its timeout; prints the waits and the bytes kept."""
    wait = WAITS[case]()
    for _ in range(2000):              # warm-up: caches, free lists, first compactions
        wait()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    done = 0
    for _ in range(n):
        wait()
        done += 1
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    print(done, after - before)


def _held_by_another_thread(lock):
    # A green thread takes ``lock`` and keeps it until the process ends.
    taken = threading.Event()

    def hold():
        lock.acquire()
        taken.set()
        threading.Event().wait()
    threading.Thread(target=hold, daemon=True).start()
    taken.wait()


def _lock():
    lock = threading.Lock()
    lock.acquire()
    return lambda: _expect(lock.acquire(timeout=T), False)


def _rlock():
    lock = threading.RLock()
    _held_by_another_thread(lock)
    return lambda: _expect(lock.acquire(timeout=T), False)


def _condition():
    cond = threading.Condition()
    cond.acquire()
    return lambda: _expect(cond.wait(T), False)


def _semaphore():
    sem = threading.Semaphore(0)
    return lambda: _expect(sem.acquire(timeout=T), False)


def _bounded_semaphore():
    sem = threading.BoundedSemaphore(1)
    sem.acquire()
    return lambda: _expect(sem.acquire(timeout=T), False)


def _event():
    event = threading.Event()
    return lambda: _expect(event.wait(T), False)


def _barrier():
    barrier = threading.Barrier(2)

    def wait():
        try:
            barrier.wait(T)
        except threading.BrokenBarrierError:
            barrier.reset()
        else:
            raise AssertionError('a barrier of 2 passed with one party')
    return wait


def _join():
    thread = threading.Thread(target=threading.Event().wait, daemon=True)
    thread.start()

    def wait():
        thread.join(T)
        _expect(thread.is_alive(), True)
    return wait


def _raises(call, exc):
    def wait():
        try:
            call()
        except exc:
            return
        raise AssertionError(f'{call} did not time out')
    return wait


def _queue_get():
    return _raises(lambda: queue.Queue().get(timeout=T), queue.Empty)


def _queue_put():
    q = queue.Queue(1)
    q.put(0)
    return _raises(lambda: q.put(1, timeout=T), queue.Full)


def _simple_queue_get():
    q = queue.SimpleQueue()
    return _raises(lambda: q.get(timeout=T), queue.Empty)


def _socket_recv():
    a, b = socket.socketpair()
    a.settimeout(T)
    _keep.append(b)
    return _raises(lambda: a.recv(1), socket.timeout)


def _select():
    a, b = socket.socketpair()
    _keep.append((a, b))
    return lambda: _expect(select.select([a], [], [], T), ([], [], []))


def _poll():
    a, b = socket.socketpair()
    _keep.append((a, b))
    poller = select.poll()
    poller.register(a, select.POLLIN)
    return lambda: _expect(poller.poll(T * 1000), [])


def _selector():
    a, b = socket.socketpair()
    _keep.append((a, b))
    sel = selectors.DefaultSelector()      # the EpollSelector, on the green epoll
    sel.register(a, selectors.EVENT_READ)
    return lambda: _expect(sel.select(T), [])


def _sleep():
    return lambda: time.sleep(T)


def _subprocess_wait():
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    atexit.register(child.kill)
    # Long enough to outlast the first waitpid check, so each wait parks.
    return _raises(lambda: child.wait(1e-4), subprocess.TimeoutExpired)


_keep = []     # objects the waits need alive until the end


def _expect(got, want):
    if got != want:
        raise AssertionError(f'expected {want!r}, got {got!r}')


WAITS = {
    'lock': _lock, 'rlock': _rlock, 'condition': _condition, 'semaphore': _semaphore,
    'bounded_semaphore': _bounded_semaphore, 'event': _event, 'barrier': _barrier,
    'join': _join, 'queue_get': _queue_get, 'queue_put': _queue_put,
    'simple_queue_get': _simple_queue_get, 'socket_recv': _socket_recv, 'select': _select,
    'poll': _poll, 'selector': _selector, 'sleep': _sleep, 'subprocess_wait': _subprocess_wait,
}


def _open_fds():
    return len(os.listdir('/proc/self/fd'))


def _rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def os_threads(case, n):
    """``n`` short-lived real OS threads each using green primitives; prints them, the fds and objects kept."""
    real_start = greenthreads.monkey.get_original('_thread', 'start_new_thread')
    real_lock = greenthreads.monkey.get_original('_thread', 'allocate_lock')
    shared = threading.Lock()
    counted = [0]

    def work(done):
        # Every kind of wait a foreign thread can make, each giving its hub work.
        threading.Event().wait(0.001)
        with shared:
            counted[0] += 1
        time.sleep(0.001)
        # Green threads of its own: runners (greenlets) pooled by its hub.
        threads = [threading.Thread(target=time.sleep, args=(0.001,)) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.release()

    def run(count):
        for _ in range(count):
            done = real_lock()
            done.acquire()
            real_start(work, (done,))
            done.acquire()       # a real lock: the main OS thread really waits
        time.sleep(0.05)     # the last thread may still be tearing down after releasing ``done``

    run(20)
    gc.collect()
    base, objects = _open_fds(), len(gc.get_objects())
    run(n)
    for _ in range(200):
        if _open_fds() <= base:
            break
        time.sleep(0.01)
    gc.collect()
    print(counted[0] - 20, _open_fds() - base, len(gc.get_objects()) - objects)


def connections(case, n):
    """A green server accepts and closes ``n`` connections; prints them and the RSS and fds kept."""
    server = socket.create_server(('127.0.0.1', 0), backlog=128)
    port = server.getsockname()[1]
    served = [0]

    def serve():
        while True:
            conn, _ = server.accept()
            served[0] += 1
            conn.sendall(b'x')
            conn.close()

    threading.Thread(target=serve, daemon=True).start()

    def client():
        c = socket.create_connection(('127.0.0.1', port))
        assert c.recv(1) == b'x'
        # Reset, not FIN: no TIME_WAIT, so repeated runs cannot run out of ports.
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\1\0\0\0\0\0\0\0')
        c.close()

    def batch(count):
        # 16 clients at a time (never more than the listen backlog).
        per = count // 16
        workers = [threading.Thread(target=lambda: [client() for _ in range(per)]) for _ in range(16)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return per * 16

    batch(2000)
    gc.collect()
    rss, fds, objects = _rss(), _open_fds(), len(gc.get_objects())
    done = batch(n)
    gc.collect()
    print(done, served[0] - 2000 == done, _rss() - rss, _open_fds() - fds, len(gc.get_objects()) - objects)


def timers(case, n):
    """Arm and cancel ``n`` timers without a hub turn between; prints them and the heap's length."""
    hub = get_hub()
    armed = 0
    for _ in range(n):
        hub.timers.cancel(hub.timers.arm(3600.0, print))
        armed += 1
    print(armed, len(hub.timers.heap))


def spawns(case, n):
    """``n`` threads started and joined one after another; prints them and the RSS kept."""
    ran = [0]

    def target():
        ran[0] += 1

    def cycle(count):
        for _ in range(count):
            t = threading.Thread(target=target)
            t.start()
            t.join()

    cycle(50_000)
    gc.collect()
    rss, objects = _rss(), len(gc.get_objects())
    cycle(n)
    gc.collect()
    print(ran[0] - 50_000, _rss() - rss, len(gc.get_objects()) - objects)


CASES = dict.fromkeys(WAITS, timed_out_waits)
CASES.update(os_threads=os_threads, connections=connections, timers=timers, spawns=spawns)

if __name__ == '__main__':
    name = sys.argv[1]
    CASES[name](name, int(sys.argv[2]))
