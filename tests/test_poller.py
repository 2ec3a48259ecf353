"""I/O readiness: both pollers (edge-triggered epoll and level-triggered poll), in a hub each."""

import contextlib
import os
import threading as std_threading

import pytest

import greenthreads
from greenthreads import _hub
from greenthreads._hub import get_hub
from greenthreads._park import sleep, wait_fd
from greenthreads._poller import READ, WRITE, EpollPoller, PollPoller, DefaultPoller, ready_now

POLLERS = [pytest.param(EpollPoller, id='epoll'), pytest.param(PollPoller, id='poll')]


@contextlib.contextmanager
def owned_pipe():
    """``(hub, r, w, owner)``: a pipe whose non-blocking read end ``owner`` reads; closed after."""
    hub = get_hub()
    r, w = os.pipe()
    os.set_blocking(r, False)
    try:
        yield hub, r, w, object()
    finally:
        hub.close_fd(r)
        os.close(r)
        os.close(w)


def in_a_hub_with(poller_class, test):
    """Run ``test()`` in a fresh OS thread, whose hub uses ``poller_class``."""
    failures = []

    def run():
        try:
            assert type(get_hub().poller) is poller_class
            test()
        except BaseException as exc:     # noqa: B902 - reported in the calling thread
            failures.append(exc)
    saved = _hub.DefaultPoller
    _hub.DefaultPoller = poller_class
    try:
        t = std_threading.Thread(target=run)
        t.start()
        t.join(30)
    finally:
        _hub.DefaultPoller = saved
    assert not t.is_alive()
    if failures:
        raise failures[0]


def test_the_platform_poller_is_epoll_on_linux():
    assert DefaultPoller is EpollPoller
    assert type(get_hub().poller) is EpollPoller


@pytest.mark.parametrize('poller_class', POLLERS)
def test_wait_fd_readable_writable_and_timeout(poller_class):
    def test():
        r, w = os.pipe()
        hub = get_hub()
        try:
            assert wait_fd(r, READ, timeout=0.02) is False
            hub.timers.arm(0.01, lambda _: os.write(w, b'x'))
            assert wait_fd(r, READ, timeout=5) is True
            assert os.read(r, 1) == b'x'
            assert wait_fd(w, WRITE, timeout=1) is True
            assert hub.poller.waiting == 0       # every interest fired or withdrawn
            hub.close_fd(r)
            hub.close_fd(w)
            assert hub.poller.interests_of(None) == []
        finally:
            os.close(r)
            os.close(w)
    in_a_hub_with(poller_class, test)


@pytest.mark.parametrize('poller_class', POLLERS)
def test_wait_fd_sees_readiness_whose_edge_went_by(poller_class):
    def test():
        r, w = os.pipe()
        try:
            os.write(w, b'ab')
            assert wait_fd(r, READ, timeout=5) is True
            assert os.read(r, 1) == b'a'
            sleep(0.01)             # the hub polls: the fd reports no new change
            # 'b' is still there: a plain wait looks at the fd as it is now.
            assert wait_fd(r, READ, timeout=5) is True
            assert os.read(r, 1) == b'b'
            assert wait_fd(r, READ, timeout=0.01) is False
        finally:
            get_hub().close_fd(r)
            os.close(r)
            os.close(w)
    in_a_hub_with(poller_class, test)


@pytest.mark.parametrize('poller_class', POLLERS)
def test_green_threads_ping_pong_over_pipes(poller_class):
    def test():
        a_r, a_w = os.pipe()
        b_r, b_w = os.pipe()
        got = []

        def echo():
            for _ in range(100):
                wait_fd(a_r, READ)
                os.write(b_w, os.read(a_r, 10))
        t = greenthreads.Thread(target=echo)
        t.start()
        for i in range(100):
            os.write(a_w, b'%d' % i)
            wait_fd(b_r, READ)
            got.append(int(os.read(b_r, 10)))
        t.join()
        for fd in (a_r, a_w, b_r, b_w):
            get_hub().close_fd(fd)
            os.close(fd)
        assert got == list(range(100))
    in_a_hub_with(poller_class, test)


@pytest.mark.parametrize('poller_class', POLLERS)
def test_fd_closed_behind_the_pollers_back_and_reused(poller_class):
    def test():
        with owned_pipe() as (hub, r, w, owner):
            hub.timers.arm(0.005, lambda _: os.write(w, b'x'))
            assert wait_fd(r, READ, 5, owner) is True
            # Another file takes the number, which the poller may still know.
            r2, w2 = os.pipe()
            os.dup2(r2, r)
            os.close(r2)
            hub.timers.arm(0.005, lambda _: os.write(w2, b'y'))
            assert wait_fd(r, READ, 5, object()) is True     # a new owner: armed afresh
            assert os.read(r, 1) == b'y'
            os.close(w2)
            os.dup2(w, r)                     # and once more, for a plain wait
            assert wait_fd(r, WRITE, 5) is True
    in_a_hub_with(poller_class, test)


@pytest.mark.parametrize('poller_class', POLLERS)
def test_an_unsure_reader_is_checked_before_the_poller_sleeps(poller_class):
    def test():
        with owned_pipe() as (hub, r, w, owner):
            # Registered by the owner once (while empty), then filled with no
            # edge anybody waits for: an owner's plain wait would miss it.
            hub.timers.arm(0.005, lambda _: os.write(w, b'x'))
            assert wait_fd(r, READ, 5, owner) is True
            assert os.read(r, 1) == b'x'
            os.write(w, b'y')
            sleep(0.01)
            assert wait_fd(r, READ, 5, owner, unsure=True) is True
            assert os.read(r, 1) == b'y'
    in_a_hub_with(poller_class, test)


@pytest.mark.parametrize('poller_class', POLLERS)
def test_close_fd_hands_back_every_waiting_handle(poller_class):
    poller = poller_class()
    r, w = os.pipe()
    try:
        a = poller.add(r, READ, print, 'a')
        b = poller.add(w, WRITE, print, 'b')
        poller.remove(w, b)
        assert poller.waiting == 1
        assert poller.interests_of('a') == [(r, READ, a)]
        assert poller.close_fd(r) == [a] and poller.waiting == 0
        assert poller.close_fd(r) == ()
    finally:
        poller.close()
        os.close(r)
        os.close(w)
    assert poller.closed


def test_a_refused_fd_leaves_nothing_registered(tmp_path):
    poller = EpollPoller()
    path = tmp_path / 'plain'
    path.write_bytes(b'x')
    with open(path, 'rb') as f:
        with pytest.raises(PermissionError):
            poller.add(f.fileno(), READ, print)
        assert poller.waiting == 0 and poller.interests_of(None) == []
    poller.close()


class _CountingBackend:
    """Wraps an epoll object, counting the calls that cost a syscall."""

    def __init__(self, backend):
        self.backend = backend
        self.calls = []

    def __getattr__(self, name):
        method = getattr(self.backend, name)

        def counted(*args):
            self.calls.append(name)
            return method(*args)
        return counted


def test_epoll_owner_waits_after_eagain_cost_no_syscall():
    hub = get_hub()
    real = hub.poller._backend
    counting = hub.poller._backend = _CountingBackend(real)
    try:
        with owned_pipe() as (hub, r, w, owner):
            for i in range(3):
                with pytest.raises(BlockingIOError):
                    os.read(r, 1)
                hub.timers.arm(0.005, lambda _: os.write(w, b'x'))
                assert wait_fd(r, READ, 5, owner) is True
                assert os.read(r, 1) == b'x'
            # Registered once, by the first wait; never modified after.
            assert counting.calls == ['register']
            # Timing out withdraws the interest without a syscall either.
            assert wait_fd(r, READ, 0.005, owner) is False
            assert counting.calls == ['register']
            assert hub.poller.waiting == 0
            # A wait by anybody else re-checks the fd (one syscall).
            os.write(w, b'y')
            assert wait_fd(r, READ, 5) is True
            assert counting.calls == ['register', 'modify']
    finally:
        hub.poller._backend = real


def test_ready_now_is_one_poll_without_waiting():
    r, w = os.pipe()
    try:
        assert ready_now([r, w], READ) == []
        os.write(w, b'x')
        assert ready_now([r, w], READ) == [r]
        assert ready_now([r, w], WRITE) == [w]
    finally:
        os.close(r)
        os.close(w)
