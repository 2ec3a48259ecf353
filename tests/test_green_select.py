"""greenthreads.green.select: select(), poll() and epoll park only the caller."""

import copy
import pickle
import select as std_select
import time

import pytest

import greenthreads
from greenthreads.green import select, socket
from conftest import spawn, run_script, error_of as _err


def test_select_waits_cooperatively_and_returns_the_ready_objects():
    a, b = socket.socketpair()
    other = []
    spawn(lambda: (greenthreads.sleep(0.02), other.append('ran'), b.send(b'x')))
    r, w, x = select.select([a], [], [], 5)
    assert r == [a] and w == [] and x == []
    assert other == ['ran']
    assert select.select([], [a], [], 0) == ([], [a], [])
    a.close()
    b.close()


def test_select_timeout():
    a, b = socket.socketpair()
    t0 = time.monotonic()
    assert select.select([a], [], [], 0.05) == ([], [], [])
    assert time.monotonic() - t0 >= 0.04
    a.close()
    b.close()


@pytest.mark.parametrize('args', [([], [], [], -1), ([], [], [], 'x'), ([-1], [], [], 0),
                                  (['a'], [], [], 0)])
def test_select_errors_match_stdlib(args):
    assert _err(select.select, *args) == _err(std_select.select, *args)


def test_poll_register_modify_unregister_like_stdlib():
    a, b = socket.socketpair()
    ours, theirs = select.poll(), std_select.poll()
    for p in (ours, theirs):
        p.register(a, select.POLLIN)
    assert ours.poll(0) == theirs.poll(0) == []
    b.send(b'x')
    assert ours.poll(0) == theirs.poll(0)
    assert _err(ours.modify, 999, select.POLLIN) == _err(theirs.modify, 999, select.POLLIN)
    assert _err(ours.unregister, 999) == _err(theirs.unregister, 999)
    ours.unregister(a)
    assert ours.poll(0) == []
    a.close()
    b.close()


def test_poll_waits_cooperatively_with_timeout_in_ms():
    a, b = socket.socketpair()
    p = select.poll()
    p.register(a.fileno(), select.POLLIN)
    t0 = time.monotonic()
    assert p.poll(50) == []
    assert time.monotonic() - t0 >= 0.04
    spawn(lambda: (greenthreads.sleep(0.01), b.send(b'y')))
    assert p.poll() == [(a.fileno(), select.POLLIN)]
    a.close()
    b.close()


def test_epoll_offered_but_not_kqueue_or_devpoll():
    assert select.epoll is not std_select.epoll and 'epoll' in select.__all__
    assert select.EPOLLIN == std_select.EPOLLIN and 'EPOLLET' in select.__all__
    assert not hasattr(select, 'kqueue') and not hasattr(select, 'devpoll')


@pytest.mark.parametrize('probe', ['select', 'poll', 'epoll', 'select_ready', 'poll_ready',
                                   'epoll_ready'])
def test_a_probe_that_does_not_park_still_lets_other_threads_run(probe):
    # A main loop polling with a zero timeout (waitress, asyncore) waits for
    # its workers: each probe must let them run, whether or not anything is ready.
    a, b = socket.socketpair()
    poller = select.poll()
    poller.register(a, std_select.POLLOUT if probe.endswith('ready') else std_select.POLLIN)
    ep = select.epoll()
    ep.register(a, std_select.EPOLLOUT if probe.endswith('ready') else std_select.EPOLLIN)
    calls = {
        'select': lambda: select.select([a], [], [], 0),
        'poll': lambda: poller.poll(0),
        'epoll': lambda: ep.poll(0),
        'select_ready': lambda: select.select([], [a], [], 5),   # writable at once
        'poll_ready': lambda: poller.poll(5000),
        'epoll_ready': lambda: ep.poll(5),
    }
    done = []
    spawn(done.append, 'worker ran')
    probes = 0
    while not done and probes < 1000:
        calls[probe]()
        probes += 1
    assert done == ['worker ran'] and probes == 1
    ep.close()
    a.close()
    b.close()


# ------------------------------------------------------------- poll objects
class _NoFileno:
    pass


class _BadFileno:
    def fileno(self):
        return 'fileno'


class _Index:
    def __index__(self):
        return 3


BAD_FDS = [-1, 2 ** 31, 2 ** 64, 'x', 1.5, None, _NoFileno(), _BadFileno()]
BAD_MASKS = [-1, 2 ** 16, 2 ** 64, 'x', 1.5, None]
# Also valid ones (the object being ready, none of them waits) and the
# out-of-range and odd types that C rejects each with its own error.
POLL_TIMEOUTS = [None, 0, 1, -1, 0.5, -0.5, True, _Index(), 2 ** 31, -2 ** 31 - 1, 2 ** 63,
                 2 ** 64, float('nan'), float('inf'), float('-inf'), 1e300, 'x', [1]]


def _poll_script(p, fd):
    """Each operation's result or ``(type, message)`` of its error, on poll object ``p``."""
    out = [_err(p.register, bad) for bad in BAD_FDS]
    out += [_err(p.register, fd, mask) for mask in BAD_MASKS]
    out += [_err(p.modify, 999, std_select.POLLIN), _err(p.unregister, 999),
            _err(p.modify, -1, 1), _err(p.unregister, 'x')]
    out.append(_err(p.register, fd, std_select.POLLOUT))      # writable: no poll waits
    out += [_err(p.modify, fd, mask) for mask in BAD_MASKS]
    out += [p.poll(t) if _err(p.poll, t) is None else _err(p.poll, t) for t in POLL_TIMEOUTS]
    # (Wrong argument counts: the same error type, worded by Python, not C.)
    out += [_err(p.poll, 1, 2)[0], _err(lambda: p.poll(timeout=1))[0], _err(p.register)[0]]
    out += [_err(setattr, p, 'x', 1), _err(pickle.dumps, p), _err(copy.copy, p)]
    out.append(_err(type(p)))
    out.append(_err(lambda: type('Sub', (type(p),), {})))
    out += [_err(p.unregister, fd), _err(p.unregister, fd), p.poll(0)]
    return out


def test_poll_object_errors_match_the_c_one():
    a, b = socket.socketpair()
    ours, theirs = _poll_script(select.poll(), a), _poll_script(std_select.poll(), a)
    for i, (got, want) in enumerate(zip(ours, theirs)):
        if got != want and got[0] is AttributeError:
            # "'poll' object has no attribute": C's type is named select.poll.
            got = (got[0], got[1].replace("'poll'", "'select.poll'"))
        assert got == want, i
    assert repr(type(select.poll())) == repr(type(std_select.poll())) == "<class 'select.poll'>"
    a.close()
    b.close()


def test_poll_registers_objects_by_their_fileno_once():
    class Counting:
        calls = 0

        def fileno(self):
            Counting.calls += 1
            return a.fileno()
    a, b = socket.socketpair()
    p = select.poll()
    p.register(Counting(), select.POLLIN)
    assert Counting.calls == 1
    b.send(b'x')
    assert p.poll(1000) == [(a.fileno(), select.POLLIN)]
    p.unregister(Counting())
    assert p.poll(0) == [] and Counting.calls == 2
    a.close()
    b.close()


def test_a_second_concurrent_poll_raises_runtime_error_and_the_first_goes_on():
    a, b = socket.socketpair()
    p = select.poll()
    p.register(a, select.POLLIN)
    first = spawn(lambda: results.append(p.poll(5000)))
    results = []
    greenthreads.sleep(0.01)                    # the first call is parked now
    assert _err(p.poll, 0) == (RuntimeError, 'concurrent poll() invocation')
    assert _err(p.poll, 'x')[0] is TypeError     # the timeout is checked first, as in C
    p.register(b, select.POLLOUT)    # counts from the next call, as in C
    b.send(b'x')
    first.join(5)
    assert results == [[(a.fileno(), select.POLLIN)]]
    assert sorted(p.poll(0)) == sorted([(a.fileno(), select.POLLIN), (b.fileno(), select.POLLOUT)])
    a.close()
    b.close()


def test_poll_is_usable_again_after_a_parked_call_is_interrupted():
    a, b = socket.socketpair()
    p = select.poll()
    p.register(a, select.POLLIN)
    result = []

    def waiter():
        try:
            p.poll(5000)
        except ZeroDivisionError:
            result.append('interrupted')
    t = spawn(waiter)
    greenthreads.sleep(0.01)
    greenthreads._hub.get_hub().call_soon(lambda _: t._greenlet.throw(ZeroDivisionError))
    t.join(5)
    assert result == ['interrupted']
    b.send(b'x')
    assert p.poll(0) == [(a.fileno(), select.POLLIN)]
    a.close()
    b.close()


@pytest.mark.parametrize('timeout', [None, -1, -0.5, -1e-100])
def test_poll_negative_or_no_timeout_waits_for_ever(timeout):
    a, b = socket.socketpair()
    p = select.poll()
    p.register(a, select.POLLIN)
    spawn(lambda: (greenthreads.sleep(0.05), b.send(b'x')))
    t0 = time.monotonic()
    assert p.poll(timeout) == [(a.fileno(), select.POLLIN)]
    assert time.monotonic() - t0 >= 0.04
    a.close()
    b.close()


# -------------------------------------------------------------------- epoll
EPOLL_TIMEOUTS = [None, 0, 1, -1, 0.5, -0.0005, True, _Index(), 2 ** 31, 2 ** 63, 2 ** 64,
                  float('nan'), float('inf'), float('-inf'), 1e300, 'x', [1]]


def _epoll_script(cls, fd):
    """Each operation's result or ``(type, message)`` of its error, on epoll class ``cls``."""
    out = [_err(cls, *args) for args in [(0,), (-2,), ('x',), (None,), (1, 2, 3), (-1, 12356)]]
    out += [_err(lambda: cls(sizehint=-2)), _err(cls.fromfd, 'x'), _err(cls.fromfd, -1)]
    ep = cls()
    out += [_err(ep.register, bad) for bad in BAD_FDS]
    out += [_err(ep.register, fd, mask) for mask in [-1, 2 ** 32, 'x']]
    out += [_err(ep.modify, fd, 1), _err(ep.unregister, fd)]
    out.append(_err(ep.register, fd, std_select.EPOLLOUT))      # writable: no poll waits
    out.append(_err(ep.register, fd, std_select.EPOLLOUT))
    out += [ep.poll(t) if _err(ep.poll, t) is None else _err(ep.poll, t) for t in EPOLL_TIMEOUTS]
    out += [_err(ep.poll, 0, m) for m in [0, -2, 'x', 2 ** 40, 1.5]]
    out += [_err(ep.poll, 'x', 0), ep.poll(timeout=0, maxevents=1), _err(ep.poll, 1, 1, 1)[0]]
    out += [_err(setattr, ep, 'x', 1)[0], _err(pickle.dumps, ep), _err(copy.copy, ep)]
    out.append(_err(lambda: type('Sub', (cls,), {})))
    with cls.fromfd(ep.fileno()) as twin:
        out += [twin.poll(0), ep.closed, twin.closed]
    out += [ep.closed, twin.closed, _err(ep.poll, 0), _err(ep.poll, 'x', 0), _err(ep.fileno)]
    for op in (ep.register, ep.unregister):
        out.append(_err(op, fd))
    out += [_err(ep.modify, fd, 1), _err(ep.__enter__), ep.close(), ep.close()]
    return out


def test_epoll_errors_and_results_match_the_c_one():
    a, b = socket.socketpair()
    ours, theirs = _epoll_script(select.epoll, a), _epoll_script(std_select.epoll, a)
    for i, (got, want) in enumerate(zip(ours, theirs)):
        assert got == want, i
    assert repr(select.epoll) == repr(std_select.epoll) == "<class 'select.epoll'>"
    a.close()
    b.close()


def test_epoll_parks_only_the_caller():
    a, b = socket.socketpair()
    ep = select.epoll()
    ep.register(a, select.EPOLLIN)
    ticks = []

    def ticker():
        for _ in range(5):
            ticks.append(time.monotonic())
            greenthreads.sleep(0.01)
        b.send(b'x')
    spawn(ticker)
    t0 = time.monotonic()
    assert ep.poll(5) == [(a.fileno(), select.EPOLLIN)]
    assert len(ticks) == 5 and time.monotonic() - t0 >= 0.04
    ep.close()
    a.close()
    b.close()


@pytest.mark.parametrize('timeout', [None, -1])
def test_epoll_without_timeout_waits_for_an_event(timeout):
    a, b = socket.socketpair()
    ep = select.epoll()
    ep.register(a.fileno(), select.EPOLLIN | select.EPOLLET)
    spawn(lambda: (greenthreads.sleep(0.02), b.send(b'x')))
    assert ep.poll(timeout) == [(a.fileno(), select.EPOLLIN)]
    assert ep.poll(0) == []         # edge-triggered: reported once
    ep.close()
    a.close()
    b.close()


def test_epoll_timeouts():
    a, b = socket.socketpair()
    ep = select.epoll()
    ep.register(a, select.EPOLLIN)
    for timeout, at_least, at_most in [(0.05, 0.045, 1), (0, 0, 0.02), (-0.0005, 0, 0.02)]:
        t0 = time.monotonic()
        assert ep.poll(timeout) == []
        assert at_least <= time.monotonic() - t0 < at_most, timeout
    ep.close()
    a.close()
    b.close()


def test_several_threads_may_wait_on_one_epoll_and_maxevents_limits_each():
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    ep = select.epoll()
    ep.register(a, select.EPOLLIN)
    ep.register(c, select.EPOLLIN)
    got = []
    waiters = [spawn(lambda: got.append(ep.poll(5, 1))) for _ in range(2)]
    greenthreads.sleep(0.01)
    b.send(b'x')
    d.send(b'y')
    for t in waiters:
        t.join(5)
    # Level-triggered: epoll hands the ready fds out in turn.
    assert sorted(got) == [[(a.fileno(), select.EPOLLIN)], [(c.fileno(), select.EPOLLIN)]]
    ep.close()
    for s in (a, b, c, d):
        s.close()


def test_closing_an_epoll_wakes_its_waiters_with_the_closed_error():
    ep = select.epoll()
    errors = []

    def waiter():
        try:
            ep.poll(5)
        except ValueError as exc:
            errors.append(str(exc))
    t = spawn(waiter)
    greenthreads.sleep(0.01)
    t0 = time.monotonic()
    ep.close()
    t.join(5)
    assert errors == ['I/O operation on closed epoll object'] and time.monotonic() - t0 < 1


def test_patched_selectors_default_to_the_green_epoll():
    proc = run_script(r"""
        import greenthreads.monkey
        greenthreads.monkey.patch_all()
        import asyncio, select, selectors, socket, threading, time
        from greenthreads import _hub, _originals
        from greenthreads.green import select as green_select
        print(select.epoll is green_select.epoll, _originals.real_epoll is not select.epoll,
              type(_hub.get_hub().poller._backend) is _originals.real_epoll)
        print(selectors.DefaultSelector.__name__, selectors.EpollSelector._selector_cls is select.epoll,
              selectors.PollSelector._selector_cls is select.poll,
              hasattr(selectors, 'KqueueSelector') or hasattr(selectors, 'DevpollSelector'))
        a, b = socket.socketpair()
        ticks = []
        def worker():
            for _ in range(5):
                ticks.append(1)
                time.sleep(0.01)
            b.send(b'x')
        for cls in (selectors.DefaultSelector, selectors.PollSelector, selectors.SelectSelector):
            ticks.clear()
            threading.Thread(target=worker).start()
            with cls() as sel:
                sel.register(a, selectors.EVENT_READ, 'a')
                ready = sel.select(5)
                print(cls.__name__, [(k.data, ev) for k, ev in ready], len(ticks), a.recv(1))
        with selectors.DefaultSelector() as sel:
            print(type(sel._selector) is select.epoll)
        async def main():
            await asyncio.sleep(0.05)
            return type(asyncio.get_running_loop()._selector).__name__
        ticks.clear()
        def ticker():
            while len(ticks) < 3:
                ticks.append(1)
                time.sleep(0.01)
        threading.Thread(target=ticker).start()
        print(asyncio.run(main()), len(ticks))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        'True True True', 'EpollSelector True True False',
        "EpollSelector [('a', 1)] 5 b'x'", "PollSelector [('a', 1)] 5 b'x'",
        "SelectSelector [('a', 1)] 5 b'x'", 'True', 'EpollSelector 3'], proc.stderr



def test_a_first_probe_takes_no_descriptor_numbers():
    # The scheduling point of a zero-timeout probe must not create the hub
    # (its epoll fd and wake-up pipe) on the spot: that would give a number
    # the program just closed a new life, and the probe no EBADF.
    out = run_script('''
import greenthreads.monkey; greenthreads.monkey.patch_all()
import errno, os, select
r, w = os.pipe()
os.close(r)
try:
    select.select([r], [], [], 0)
except OSError as exc:
    print(errno.errorcode[exc.errno])
print(os.pipe()[0] == r)
''')
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['EBADF', 'True']
