"""Diagnostics: what every green thread is doing, and the deadlock report.

The hub calls :func:`deadlock_error` (installed as ``Hub.on_deadlock``) when
nothing can ever run again.  Nothing is recorded at park time to make this
possible: a parked green thread's suspended frames already hold its
:class:`~greenthreads._park.Waiter`, and the report reads it from there.
"""

import os
import sys
import time
import traceback
import weakref

from . import _poller
from ._hub import ident_of, new_hub_hooks
from ._idle import DeadlockError, census
from ._locks import RLock
from ._originals import real_start_new_thread, real_allocate_lock, real_signal
from ._park import waiter_of as _waiter_of, PARKED
from ._threads import Thread, _active
from .pool import ThreadPool

__all__ = ['DeadlockError', 'deadlock_error', 'blocked_threads', 'format_all', 'dump_all',
           'monitor_stalls', 'StallMonitor', 'dump_on_signal']

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_monotonic = time.monotonic
_POLLER_FILE = _poller.__file__




def _user_frame(frame):
    """The innermost frame outside this package (where the user's code waits)."""
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR:
        frame = frame.f_back
    return frame


def _thread_of_ident(ident):
    return _active.get(ident)


def _describe(reason):
    if isinstance(reason, Thread):
        return f'join of {reason!r}'
    if isinstance(reason, RLock):
        owner = reason._cell.get(0, (None, 0))[0]
        holder = None
        if owner is not None:
            holder = _thread_of_ident(ident_of(owner))
        text = repr(reason)
        if holder is not None:
            text += f' held by {holder!r}'
        return text
    return repr(reason)


def blocked_threads():
    """``[(thread, waiter, frame)]`` for every live thread parked on something."""
    out = []
    for thread in list(_active.values()):
        g = thread._greenlet
        if g is None or g.dead:
            continue
        frame = g.gr_frame
        waiter = _waiter_of(g)
        if waiter is not None and waiter.state == PARKED:
            out.append((thread, waiter, frame))
    return out


def _where(frame):
    user = _user_frame(frame)
    if user is None:
        return ''
    return f'  [{user.f_code.co_filename}:{user.f_lineno} in {user.f_code.co_name}]'


def _user_stack(frame):
    """``frame``'s stack as traceback text, without this package's frames."""
    entries = [entry for entry in traceback.extract_stack(frame)
               if os.path.dirname(os.path.abspath(entry.filename)) != _PACKAGE_DIR]
    return ''.join(traceback.format_list(entries))


def deadlock_error(hub):
    """Build the DeadlockError naming each blocked thread, what it waits on and where.

    Other OS threads stuck waiting for green threads (a pool job waiting on
    an Event only a blocked green thread would set) are listed too, each
    with its stack: nothing else would show where they wait.
    """
    lines = ['every green thread is blocked and nothing can wake them:']
    for thread, waiter, frame in blocked_threads():
        lines.append(f'  {thread!r} waits on {_describe(waiter.reason)}{_where(frame)}')
    with census.lock:
        stalled = list(census.stalled)
    for other in stalled:
        frame = other.main_glet.gr_frame
        waiter = _waiter_of(other.main_glet)
        if waiter is None or waiter.state != PARKED:
            continue
        kind = ' (a thread pool worker)' if _is_pool_worker(frame) else ''
        lines.append(f'  OS thread {other.thread_ident}{kind} waits on '
                     f'{_describe(waiter.reason)}{_where(frame)}')
        lines.extend('    ' + line for line in _user_stack(frame).rstrip('\n').split('\n'))
    return DeadlockError('\n'.join(lines))


def _is_pool_worker(frame):
    code = ThreadPool._work.__code__
    while frame is not None and frame.f_code is not code:
        frame = frame.f_back
    return frame is not None


def format_all(current_frame=None):
    """Every live green thread: its name, state, what it waits on, and its stack, as one string.

    States: ``running`` (the caller's thread, whose stack is shown from
    ``current_frame``, default the caller's frame; or running in another
    OS thread), ``waiting on ...`` (parked), ``runnable`` (woken, not yet
    run), ``starting`` (started, never run).  Like faulthandler's dump, for
    green threads.
    """
    from greenlet import getcurrent
    me = getcurrent()
    if current_frame is None:
        current_frame = sys._getframe(1)
    frames = None
    chunks = []
    for thread in list(_active.values()):
        g = thread._greenlet
        if g is None or g.dead:
            continue
        head = f'{thread!r}'
        if g is me:
            frame = current_frame
            head += ' running (this dump)'
        elif g.gr_frame is not None:
            frame = g.gr_frame
            waiter = _waiter_of(g)
            head += (f' waiting on {_describe(waiter.reason)}' if waiter is not None and waiter.state == PARKED
                     else ' runnable')
        elif not g:
            frame = None
            head += ' starting'
        else:
            if frames is None:
                frames = sys._current_frames()
            frame = next((frames.get(hub.thread_ident) for hub in list(_hubs) if _runs_in(g, hub)),
                         None)
            head += ' running in another OS thread'
        stack = ''.join(traceback.format_stack(frame)) if frame is not None else ''
        chunks.append(head + '\n' + stack)
    return '\n'.join(chunks)


def dump_all(file=None, current_frame=None):
    """Print every live green thread (see :func:`format_all`) to ``file`` (default: stderr)."""
    text = format_all(current_frame if current_frame is not None else sys._getframe(1))
    print(text, file=file if file is not None else sys.stderr, flush=True)


def dump_on_signal(signum=None, file=None):
    """On signal ``signum`` (default SIGUSR1), print every green thread while the program goes on.

    A faulthandler for green threads: name, state, what each waits on, and
    its stack (:func:`format_all`), to ``file`` (default stderr).  The
    handler is installed with the real ``signal.signal`` (also under the
    monkey patch), so it runs at once in whatever green thread holds the
    OS thread, even one that never switches.  Returns the handler it replaced.
    """
    import signal
    if signum is None:
        signum = signal.SIGUSR1

    def dump(sig, frame):
        dump_all(file, frame)
    return real_signal(signum, dump)


# ------------------------------------------------------------------ stalls
#: Every hub made so far (the stall monitor watches each).
_hubs = weakref.WeakSet()


class StallMonitor:
    """A watchdog OS thread reporting green threads that hold their OS thread too long.

    Every ``threshold / 4`` seconds it samples each hub: the hub's turn count
    and switch budget (``Hub.turns``, ``Hub.direct_budget``; every switch
    between green threads changes one of them), and the running green
    thread, known by the bottom frame of the OS thread's current stack.  A
    hub waiting in its poller (idle, not stalled) runs no frame of ours but
    the poller's (none at all, compiled).  When the same green
    thread has run for ``threshold`` seconds with none of them changing,
    it writes one report (the thread, how long so far, its stack) to
    ``file``.  The hot paths pay nothing for it: the counters are the
    hub's own, kept whether or not anything watches.
    """

    def __init__(self, threshold, file=None):
        if not threshold > 0:
            raise ValueError('threshold must be a positive number of seconds')
        self.threshold = float(threshold)
        self.file = file
        self.reports = 0            # stalls reported so far
        self._stop = False
        self._seen = weakref.WeakKeyDictionary()    # hub -> (sample, since, reported)
        self._wake = real_allocate_lock()     # released by stop(): ends the watchdog's sleep
        self._wake.acquire()
        self._done = real_allocate_lock()     # released by the watchdog as it ends
        self._done.acquire()
        real_start_new_thread(self._run, ())

    def stop(self):
        """End the watchdog thread (idempotent); returns once it has ended."""
        if not self._stop:
            self._stop = True
            self._wake.release()
            self._done.acquire()        # (at once: the watchdog was woken)
            self._done.release()

    def _run(self):
        try:
            period = max(self.threshold / 4, 0.001)
            while not self._wake.acquire(True, period):
                self.check(_monotonic())
        finally:
            self._done.release()

    def check(self, now):
        """Sample every hub once (the watchdog calls this; tests may too)."""
        frames = sys._current_frames()
        for hub in list(_hubs):
            frame = frames.get(hub.thread_ident)
            if frame is None or frame.f_code.co_filename == _POLLER_FILE:
                self._seen.pop(hub, None)    # the hub's own (compiled) code, or idle in the poller
                continue
            bottom = frame
            while bottom.f_back is not None:
                bottom = bottom.f_back
            sample = (hub.turns, hub.direct_budget, bottom)
            seen = self._seen.get(hub)
            if seen is None or seen[0] != sample:
                self._seen[hub] = (sample, now, False)
                continue
            _, since, reported = seen
            if not reported and now - since >= self.threshold:
                self._seen[hub] = (sample, since, True)
                self.reports += 1
                self._report(hub, frame, now - since)

    def _report(self, hub, frame, held):
        who = _running_thread(hub)
        name = repr(who) if who is not None else f'the hub of OS thread {hub.thread_ident}'
        text = (f'greenthreads: {name} has held its OS thread for {held:.3f} s without a switch '
                f'(stall threshold {self.threshold:.3f} s); its stack:\n'
                + ''.join(traceback.format_stack(frame)))
        out = self.file if self.file is not None else sys.stderr
        try:
            out.write(text)
            out.flush()
        except (OSError, ValueError):   # closed meanwhile: nothing to report to
            pass


def _running_thread(hub):
    """The Thread whose green thread runs in ``hub``'s OS thread now, or None (the hub)."""
    for thread in list(_active.values()):
        g = thread._greenlet
        if g is None or not g or g.gr_frame is not None:
            continue            # not started, ended, or suspended
        if _runs_in(g, hub):
            return thread
    return None


def _runs_in(glet, hub):
    """True if ``glet`` is one of ``hub``'s green threads (its main one, or one it runs)."""
    return glet is hub.main_glet or glet.parent is hub.greenlet


_monitor = None


def monitor_stalls(threshold=0.1, file=None):
    """Report, while the program runs, any green thread that holds its OS thread
    longer than ``threshold`` seconds without a switch (CPU work, a C call that
    blocks): its name and its stack, once per stall, to ``file`` (default
    stderr).  Replaces a monitor started before; ``threshold=None`` stops it.
    ``GREENTHREADS_STALL_MS=100`` in the environment starts one at import.
    Returns the :class:`StallMonitor` (or None).
    """
    global _monitor
    if _monitor is not None:
        _monitor.stop()
        _monitor = None
    if threshold is not None:
        _monitor = StallMonitor(threshold, file)
    return _monitor


def _install(hub):
    hub.on_deadlock = deadlock_error
    _hubs.add(hub)


new_hub_hooks.append(_install)

if os.environ.get('GREENTHREADS_STALL_MS'):
    monitor_stalls(float(os.environ['GREENTHREADS_STALL_MS']) / 1000)
