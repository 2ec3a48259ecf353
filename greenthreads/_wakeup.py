"""The hub's thread-safe wake-up: a self-pipe its poller watches.

Another OS thread that hands the hub work (``Hub.call_threadsafe``) writes a
byte so the hub's poll returns; in the main OS thread the pipe is also
Python's signal wake-up fd, so a signal caught while another OS thread runs
still interrupts the poll and its Python handler runs promptly.
"""

import os
import signal

from ._originals import real_allocate_lock as _real_allocate_lock, os_read as _os_read, \
    os_write as _os_write

__all__ = ['Wakeup']


class Wakeup:
    """A non-blocking pipe: :meth:`notify` from anywhere, :meth:`drain` from the poll that saw it.

    ``read_fd`` is registered with ``poller`` at creation.  ``pending`` is
    True from a :meth:`notify` until the hub takes the calls or drains the
    pipe, so many notifications cost one write.  ``closed`` once :meth:`close` was called.  ``previous``: the write end
    of the Wakeup this one replaces (after a fork), which may still be the
    signal wake-up fd.
    """

    def __init__(self, poller, signals=False, previous=None):
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self.pending = False
        self._lock = _real_allocate_lock()
        self.closed = False
        self._owns_signal_fd = False
        poller.watch_wakeup(self.read_fd, self.drain)
        if signals:
            self._take_signal_fd(previous)

    def _take_signal_fd(self, previous):
        try:
            old = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        except ValueError:  # pragma: no cover - not the main interpreter
            return
        if old not in (-1, previous):
            signal.set_wakeup_fd(old)   # somebody else's (asyncio?): leave it
        else:
            self._owns_signal_fd = True

    def notify(self):
        """Wake the hub unless a wake-up is pending already (from any OS thread)."""
        if not self.pending:
            # Under the lock, so close() cannot free the fd number (for
            # somebody else's file to take) between our check and our write.
            with self._lock:
                if self.pending:
                    return
                self.pending = True
                self.write()

    def write(self):
        """Make the hub's poll return now, or its next one at once."""
        try:
            _os_write(self.write_fd, b'\0')
        except OSError:
            pass  # the pipe is full (the hub will wake anyway), or closed at exit

    def drain(self):
        """Empty the pipe (the poller saw it readable), then take notifications again."""
        try:
            while _os_read(self.read_fd, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        # Only now: a notifier that set the flag after the hub had emptied
        # its call queue wrote the byte just read, and notifiers that came
        # later and saw the flag still set wrote none; unless cleared here,
        # the next would not write either, and the hub would sleep on its call.
        self.pending = False

    def close(self, forked=False):
        """Give the pipe back; later notifications are dropped.  Idempotent.

        ``forked``: in a forked child, where the lock may have been held at
        the fork by a thread that no longer exists (nobody else can notify).
        """
        if not forked:
            self._lock.acquire()
        try:
            if self.closed:
                return
            self.closed = True
            self.pending = True        # no notify() writes from now on
        finally:
            if not forked:
                self._lock.release()
        if self._owns_signal_fd:
            try:
                signal.set_wakeup_fd(-1)
            except (ValueError, OSError):  # pragma: no cover
                pass
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass
