"""A cooperative ``subprocess.Popen``: waiting for a child parks only the caller.

``Popen.wait()`` (and so ``run``, ``call``, ``check_output``,
``communicate``) waits on a pidfd, which the kernel makes readable when the
child exits, through the hub's poller: no blocking ``waitpid`` and no polling
loop.  ``communicate`` already goes through ``selectors``, which the monkey
patch makes cooperative.  Where pidfds are missing (non-Linux, or a child
already reaped elsewhere) the wait falls back to short cooperative sleeps.
"""

import os
import subprocess as _std
import time

from .._poller import READ
from .._park import wait_fd, sleep

__all__ = ['Popen']

_monotonic = time.monotonic


class Popen(_std.Popen):
    """``subprocess.Popen`` whose waits are cooperative."""

    def _wait(self, timeout):
        if self.returncode is not None:
            return self.returncode
        endtime = None if timeout is None else _monotonic() + timeout
        pidfd = _open_pidfd(self.pid)
        try:
            while True:
                with self._waitpid_lock:
                    if self.returncode is not None:
                        break                     # another thread reaped it
                    pid, sts = self._try_wait(os.WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(sts)
                        break
                remaining = None if endtime is None else endtime - _monotonic()
                if remaining is not None and remaining <= 0:
                    raise _std.TimeoutExpired(self.args, timeout)
                if pidfd is not None:
                    wait_fd(pidfd, READ, remaining)
                else:
                    sleep(0.005 if remaining is None else min(0.005, remaining))
        finally:
            if pidfd is not None:
                os.close(pidfd)
        return self.returncode


def _open_pidfd(pid):
    opener = getattr(os, 'pidfd_open', None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:   # already reaped, or pidfds not supported by this kernel
        return None
