"""The hub's thread-safe wake-up: a self-pipe written once per batch of calls."""

import os
import signal
import _thread

from greenthreads import _hub
from greenthreads._park import Waiter, park, unpark, sleep
from greenthreads._poller import EpollPoller
from greenthreads._wakeup import Wakeup


def test_many_notifications_cost_one_byte_until_drained():
    poller = EpollPoller()
    wakeup = Wakeup(poller)
    try:
        for _ in range(5):
            wakeup.notify()
        assert wakeup.pending
        assert os.read(wakeup.read_fd, 100) == b'\0'
        os.write(wakeup.write_fd, b'\0')
        wakeup.drain()
        assert not wakeup.pending
        wakeup.notify()
        assert poller.poll(0) == 1 and not wakeup.pending     # the poll drained it
    finally:
        wakeup.close()
        poller.close()


def test_a_closed_wakeup_drops_notifications_and_closes_once():
    poller = EpollPoller()
    wakeup = Wakeup(poller)
    wakeup.close()
    wakeup.close()
    wakeup.notify()              # nothing written anywhere
    assert wakeup.closed
    poller.close()


def test_the_main_hubs_pipe_is_the_signal_wakeup_fd():
    hub = _hub.get_hub()
    assert hub.is_main_os_thread
    previous = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(previous)
    assert previous == hub.wakeup.write_fd


def test_a_call_from_another_os_thread_is_not_lost_after_a_late_wake_up_byte():
    # Many real threads hand results back at once here.  One that sets the
    # hub's "wake-up pending" flag just after the hub emptied its queue
    # leaves a byte in the pipe and the flag set; once the hub has read that
    # byte, the next call from another thread must still wake it.
    hub = _hub.get_hub()
    hub.wakeup.pending = True
    os.write(hub.wakeup.write_fd, b'\0')
    sleep(0.01)      # the hub polls and reads the byte
    waiter = Waiter('a call from another OS thread')
    _thread.start_new_thread(unpark, (waiter, 'delivered'))
    assert park(waiter, 5) and waiter.value == 'delivered'
