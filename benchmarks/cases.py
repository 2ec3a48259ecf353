"""The benchmark workloads, written once against a threading-shaped API.

``api`` has ``Thread(target, args)`` (start/join), ``Event``, ``Lock``, ``RLock``,
``Queue`` and ``sleep``.  For OS threads, greenthreads and the monkey-patched
anchors it is just ``threading``/``queue``/``time`` (so the very same
unmodified threading code runs on each); for gevent's native API it is
gevent's own classes.  asyncio gets coroutine versions of the same shapes.
The ``greenlet`` backend's api has only ``greenlet`` and ``getcurrent``: it
measures the floor of ``switch`` (bare greenlets, no hub) and nothing else.

Every case returns a dict: ``ops`` (how many operations the time covers) plus
any extra measurement (fairness, memory).  Every case also checks that it did
the work it timed (items received in order, bytes echoed, threads run...) and
raises :class:`BenchmarkError` if not, so a broken fast path cannot look fast.
The checks are cheap and mostly run after the timed loop.
"""

import asyncio
import os
import resource
import time


class BenchmarkError(AssertionError):
    """A case did not do the work it timed: its time must not be reported."""


def _check(case, what, expected, got):
    if got != expected:
        raise BenchmarkError(f'{case}: {what}: expected {expected!r}, got {got!r}')


def spawn_join(api, n):
    """Start n threads that do nothing, then join them all."""
    ran = []

    def nothing():
        ran.append(None)    # atomic, even for OS threads
    threads = [api.Thread(target=nothing) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _check('spawn_join', 'threads whose target ran', n, len(ran))
    return {'ops': n}


def switch(api, n):
    """Two threads hand control back and forth n times through a pair of Events.

    On the ``greenlet`` backend (an api with ``greenlet``) two bare greenlets
    hand control back and forth with ``switch()`` instead: the limit.
    """
    if getattr(api, 'greenlet', None) is not None:
        return _greenlet_switch(api, n)
    ping, pong = api.Event(), api.Event()
    handed = [0]    # handoffs the other thread made (only it writes)

    def other():
        for _ in range(n):
            ping.wait()
            ping.clear()
            handed[0] += 1
            pong.set()
    t = api.Thread(target=other)
    t.start()
    out_of_step = 0  # times pong.wait() returned before the other thread's handoff
    for i in range(1, n + 1):
        ping.set()
        pong.wait()
        pong.clear()
        out_of_step += handed[0] != i
    t.join()
    _check('switch', "the other thread's handoffs", n, handed[0])
    _check('switch', "main's handoffs", n, i)
    _check('switch', 'handoffs out of step', 0, out_of_step)
    return {'ops': n}


def _greenlet_switch(api, n):
    # The two stack switches an Event handoff cannot do without, and nothing
    # else: no hub, no Event, no scheduling.  Checked like switch().
    main = api.getcurrent()
    handed = [0]    # handoffs the other greenlet made (only it writes)

    def other():
        for _ in range(n):
            handed[0] += 1
            main.switch()
    g = api.greenlet(other)
    out_of_step = 0  # times control came back before the other greenlet's handoff
    for i in range(1, n + 1):
        g.switch()
        out_of_step += handed[0] != i
    g.switch()      # lets other() return: after n handoffs it has none left
    _check('switch', "the other greenlet's handoffs", n, handed[0])
    _check('switch', "main's handoffs", n, i)
    _check('switch', 'handoffs out of step', 0, out_of_step)
    _check('switch', 'the other greenlet finished', True, g.dead)
    return {'ops': n}


def lock_uncontended(api, n):
    """n times ``with lock: pass`` in one thread."""
    lock = api.Lock()
    last = None
    for i in range(n):
        with lock:
            last = i
    _check('lock_uncontended', 'with-block bodies run', n, last + 1)
    _check_lock_released('lock_uncontended', api, lock)
    return {'ops': n}


def rlock_uncontended(api, n):
    """n times ``with rlock: pass`` in one thread."""
    lock = api.RLock()
    last = None
    for i in range(n):
        with lock:
            last = i
    _check('rlock_uncontended', 'with-block bodies run', n, last + 1)
    _check_lock_released('rlock_uncontended', api, lock, reentrant=True)
    return {'ops': n}


def _check_lock_released(case, api, lock, reentrant=False):
    # Taken inside a with-block, free after the loop.  A reentrant lock is free
    # for its owner anyway, so for it another thread tries.
    def try_lock():
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        return got

    def attempt():
        if not reentrant:
            return try_lock()
        got = []
        t = api.Thread(target=lambda: got.append(try_lock()))
        t.start()
        t.join()
        return got[0] if got else 'no attempt (the thread did not run)'
    with lock:
        _check(case, 'acquire(blocking=False) inside a with-block', False, attempt())
    _check(case, 'acquire(blocking=False) after the loop', True, attempt())
    if reentrant and hasattr(lock, '_is_owned'):
        _check(case, 'lock still owned after the loop', False, lock._is_owned())


def lock_contended(api, n, threads=4):
    """``threads`` threads each n times ``with lock: sleep(0)``; also how often ownership moves.

    Inside the lock a shared counter is read, then written back plus one
    after the ``sleep(0)``: without mutual exclusion increments get lost.
    """
    lock = api.Lock()
    order = []
    counter = [0]

    def worker(i):
        for _ in range(n):
            with lock:
                order.append(i)
                value = counter[0]
                api.sleep(0)
                counter[0] = value + 1
    t0 = time.perf_counter()
    ts = [api.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    seconds = time.perf_counter() - t0      # the checks below take long: not timed
    _check_contended(order, counter[0], n, threads)
    return {'ops': n * threads, 'handoff_ratio': _handoff_ratio(order, threads), 'seconds': seconds}


def _check_contended(order, counter, n, threads):
    _check('lock_contended', 'critical sections entered', n * threads, len(order))
    _check('lock_contended', 'critical sections entered per thread', [n] * threads,
           [order.count(i) for i in range(threads)])
    _check('lock_contended', 'shared counter incremented under the lock (lost updates '
           'mean no mutual exclusion)', n * threads, counter)


def _handoff_ratio(order, threads):
    # Of the releases made while every thread still had work (so someone was
    # waiting), the share after which another thread got the lock.
    counts = {i: order.count(i) for i in range(threads)}
    seen = {i: 0 for i in range(threads)}
    changes = total = 0
    for a, b in zip(order, order[1:]):
        seen[a] += 1
        if all(seen[i] < counts[i] for i in range(threads)):
            total += 1
            changes += a != b
    return changes / total if total else 1.0


def queue(api, n):
    """One producer puts n items into a Queue; one consumer gets them."""
    q = api.Queue()
    received = []   # the consumer's count, or where it got a wrong item

    def consumer():
        get = q.get
        for i in range(n):
            item = get()
            if item != i:
                received.append(f'item {item!r} at position {i}')
                return
        received.append(n)
    t = api.Thread(target=consumer)
    t.start()
    put = q.put
    for i in range(n):
        put(i)
    t.join()
    _check_queue(received, q.qsize(), n)
    return {'ops': n}


def _check_queue(received, left, n):
    _check('queue', 'items received, in order', [n], received)
    _check('queue', 'items left in the queue', 0, left)


def echo(api, n, trips=200, size=64):
    """n connections, a thread each on both sides, each doing ``trips`` round trips of ``size`` bytes.

    Plain blocking-socket code: a listener thread accepts and starts a handler
    thread per connection (what ``socketserver.ThreadingTCPServer`` does).
    """
    if getattr(api, 'StreamServer', None) is not None:
        return _echo_stream_server(api, n, trips, size)
    socket = api.socket
    listener = socket.create_server(('127.0.0.1', 0), backlog=n)
    port = listener.getsockname()[1]
    handlers = []
    echoed = []     # bytes each handler echoed, appended when its client hangs up

    def handle(conn):
        total = 0
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                total += len(data)
                conn.sendall(data)
        echoed.append(total)

    def serve():
        for _ in range(n):
            conn, _addr = listener.accept()
            t = api.Thread(target=handle, args=(conn,))
            t.start()
            handlers.append(t)
    acceptor = api.Thread(target=serve)
    acceptor.start()
    replies = {}
    clients = [api.Thread(target=_echo_client, args=(socket, port, trips, size, i, replies))
               for i in range(n)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    acceptor.join()
    for t in handlers:  # complete only now that the acceptor is done
        t.join()
    listener.close()
    _check_echo(replies, sum(echoed), n, trips, size)
    return {'ops': n * trips}


def echo_4000(api, n, trips=50, size=64):
    """:func:`echo` at 4,000 connections: 50 round trips each (200,000 in all), the same per trip.

    Where a backend's cost per round trip grows with the number of live
    connections, this shows it beside :func:`echo` at 500.
    """
    return echo(api, n, trips, size)


def _payload(i, size):
    # Differs between clients, so crossed connections show up too.
    return bytes((i + k) % 251 for k in range(size))


def _echo_client(socket, port, trips, size, i, replies):
    payload = _payload(i, size)
    total = 0
    s = socket.create_connection(('127.0.0.1', port))
    with s:
        for _ in range(trips - 1):
            s.sendall(payload)
            got = 0
            while got < size:
                data = s.recv(size - got)
                if not data:
                    break
                got += len(data)
            total += got
        s.sendall(payload)  # the last round trip keeps its reply, to compare
        last = b''
        while len(last) < size:
            data = s.recv(size - len(last))
            if not data:
                break
            last += data
        total += len(last)
    replies[i] = (total, last)


def _check_echo(replies, echoed, n, trips, size):
    _check('echo', 'clients that finished', n, len(replies))
    for i in range(n):
        total, last = replies[i]
        _check('echo', f'bytes received by client {i}', trips * size, total)
        if last != _payload(i, size):
            raise BenchmarkError(f'echo: client {i} last reply: expected {_payload(i, size)!r}, '
                                 f'got {last!r}')
    _check('echo', 'bytes echoed by the server', n * trips * size, echoed)


def _echo_stream_server(api, n, trips, size):
    # gevent's native server: the anchor the issue names for this case.
    echoed = [0]    # greenlets: += between blocking calls is atomic

    def handle(conn, _addr):
        while True:
            data = conn.recv(65536)
            if not data:
                return
            echoed[0] += len(data)  # before the send: a client may finish on it
            conn.sendall(data)
    server = api.StreamServer(('127.0.0.1', 0), handle, backlog=n)
    server.start()
    port = server.server_port
    replies = {}
    clients = [api.Thread(target=_echo_client, args=(api.socket, port, trips, size, i, replies))
               for i in range(n)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    server.stop()
    _check_echo(replies, echoed[0], n, trips, size)
    return {'ops': n * trips}


def sleepers(api, n, seconds=1.0):
    """n threads each sleep ``seconds``: time to finish, and peak memory per thread."""
    base = _rss_kb()
    sleep = api.sleep
    woke = []

    def sleeper():
        sleep(seconds)
        woke.append(None)   # atomic, even for OS threads
    t0 = time.monotonic()
    threads = [api.Thread(target=sleeper) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _check_sleepers(len(woke), elapsed, n, seconds)
    return {'ops': n, 'kb_per_thread': (peak - base) / n}


#: Timer slack: an event loop's timer may fire a little before the clock read
#: here says ``seconds`` have passed; skipping the sleep misses by far more.
_SLEEP_SLACK = 0.005


def _check_sleepers(woke, elapsed, n, seconds):
    _check('sleepers', 'threads that slept and finished', n, woke)
    if elapsed < seconds - _SLEEP_SLACK:
        raise BenchmarkError(f'sleepers: elapsed wall time: expected at least {seconds} s, '
                             f'got {elapsed:.4f} s')


def _rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


# ------------------------------------------------------------------ asyncio
class AsyncioCases:
    """The same shapes as coroutines: tasks for threads, asyncio's own primitives."""

    @staticmethod
    async def spawn_join(n):
        ran = []

        async def nothing():
            ran.append(None)
        tasks = [asyncio.ensure_future(nothing()) for _ in range(n)]
        for t in tasks:
            await t
        _check('spawn_join', 'tasks whose coroutine ran', n, len(ran))
        return {'ops': n}

    @staticmethod
    async def switch(n):
        ping, pong = asyncio.Event(), asyncio.Event()
        handed = 0

        async def other():
            nonlocal handed
            for _ in range(n):
                await ping.wait()
                ping.clear()
                handed += 1
                pong.set()
        t = asyncio.ensure_future(other())
        out_of_step = 0
        for i in range(1, n + 1):
            ping.set()
            await pong.wait()
            pong.clear()
            out_of_step += handed != i
        await t
        _check('switch', "the other task's handoffs", n, handed)
        _check('switch', "main's handoffs", n, i)
        _check('switch', 'handoffs out of step', 0, out_of_step)
        return {'ops': n}

    @staticmethod
    async def lock_uncontended(n):
        lock = asyncio.Lock()
        last = None
        for i in range(n):
            async with lock:
                last = i
        _check('lock_uncontended', 'with-block bodies run', n, last + 1)
        async with lock:
            _check('lock_uncontended', 'lock held inside a with-block', True, lock.locked())
        _check('lock_uncontended', 'lock free after the loop', False, lock.locked())
        return {'ops': n}

    rlock_uncontended = None  # asyncio has no reentrant lock

    @staticmethod
    async def lock_contended(n, threads=4):
        lock = asyncio.Lock()
        order = []
        counter = 0

        async def worker(i):
            nonlocal counter
            for _ in range(n):
                async with lock:
                    order.append(i)
                    value = counter
                    await asyncio.sleep(0)
                    counter = value + 1
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(threads)))
        seconds = time.perf_counter() - t0      # as in lock_contended: checks not timed
        _check_contended(order, counter, n, threads)
        return {'ops': n * threads, 'handoff_ratio': _handoff_ratio(order, threads), 'seconds': seconds}

    @staticmethod
    async def queue(n):
        q = asyncio.Queue()
        received = []

        async def consumer():
            for i in range(n):
                item = await q.get()
                if item != i:
                    received.append(f'item {item!r} at position {i}')
                    return
            received.append(n)
        t = asyncio.ensure_future(consumer())
        for i in range(n):
            await q.put(i)
        await t
        _check_queue(received, q.qsize(), n)
        return {'ops': n}

    @staticmethod
    async def echo(n, trips=200, size=64):
        echoed = 0

        async def handle(reader, writer):
            nonlocal echoed
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                echoed += len(data)     # before the write: a client may finish on it
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, '127.0.0.1', 0, backlog=n)
        port = server.sockets[0].getsockname()[1]
        replies = {}

        async def client(i):
            payload = _payload(i, size)
            total = 0
            reader, writer = await asyncio.open_connection('127.0.0.1', port)
            for _ in range(trips):
                writer.write(payload)
                reply = await reader.readexactly(size)   # short: IncompleteReadError
                total += len(reply)
            writer.close()
            await writer.wait_closed()
            replies[i] = (total, reply)
        await asyncio.gather(*(client(i) for i in range(n)))
        server.close()
        await server.wait_closed()
        _check_echo(replies, echoed, n, trips, size)
        return {'ops': n * trips}

    @staticmethod
    async def echo_4000(n, trips=50, size=64):
        return await AsyncioCases.echo(n, trips, size)

    @staticmethod
    async def sleepers(n, seconds=1.0):
        base = _rss_kb()
        t0 = time.monotonic()
        woke = await asyncio.gather(*(asyncio.sleep(seconds, True) for _ in range(n)))
        elapsed = time.monotonic() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _check_sleepers(woke.count(True), elapsed, n, seconds)
        return {'ops': n, 'kb_per_thread': (peak - base) / n}


CASES = ['spawn_join', 'switch', 'lock_uncontended', 'rlock_uncontended', 'lock_contended',
         'queue', 'echo', 'echo_4000', 'sleepers']

#: Operations per run, by case; OS threads get fewer where the issue says so
#: or where a run would take far longer than the others (per-op figures are
#: compared, so the counts need not match).
SIZES = {
    'spawn_join': {'default': 100_000, 'threading': 10_000},
    # bare greenlets switch several times faster than a hub's handoff: more of
    # them, for a timing as long as the others'
    'switch': {'default': 200_000, 'threading': 20_000, 'greenlet': 1_000_000},
    'lock_uncontended': {'default': 1_000_000},
    'rlock_uncontended': {'default': 1_000_000},
    'lock_contended': {'default': 50_000, 'threading': 2_000},
    'queue': {'default': 200_000},
    # connections (x 200 round trips of 64 bytes); OS threads: 1 thread per side each
    'echo': {'default': 500, 'threading': 100},
    # 4,000 connections each side: OS threads run echo only (8,000 of them is not the comparison)
    'echo_4000': {'default': 4000},
    # The patched anchors re-scan every live thread on each start/stop (CPython
    # 3.9-3.12 threading), so 100,000 of them take minutes: they get 20,000.
    'sleepers': {'default': 100_000, 'threading': 10_000, 'gevent-patched': 20_000,
                 'eventlet-patched': 20_000},
}


def size(case, backend):
    sizes = SIZES[case]
    return sizes.get(backend, sizes['default'])
