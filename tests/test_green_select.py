"""greenthreads.green.select: select() and poll() park only the caller."""

import select as std_select
import time

import pytest

import greenthreads
from greenthreads.green import select, socket
from conftest import spawn, error_of as _err


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


def test_no_epoll_offered():
    assert not hasattr(select, 'epoll') and not hasattr(select, 'kqueue')


@pytest.mark.parametrize('probe', ['select', 'poll', 'select_ready', 'poll_ready'])
def test_a_probe_that_does_not_park_still_lets_other_threads_run(probe):
    # A main loop polling with a zero timeout (waitress, asyncore) waits for
    # its workers: each probe must let them run, whether or not anything is ready.
    a, b = socket.socketpair()
    poller = select.poll()
    poller.register(a, std_select.POLLOUT if probe.endswith('ready') else std_select.POLLIN)
    calls = {
        'select': lambda: select.select([a], [], [], 0),
        'poll': lambda: poller.poll(0),
        'select_ready': lambda: select.select([], [a], [], 5),   # writable at once
        'poll_ready': lambda: poller.poll(5000),
    }
    done = []
    spawn(done.append, 'worker ran')
    probes = 0
    while not done and probes < 1000:
        calls[probe]()
        probes += 1
    assert done == ['worker ran'] and probes == 1
    a.close()
    b.close()
