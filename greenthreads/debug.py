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
import warnings
import weakref

from greenlet import getcurrent

from . import _poller
from ._hub import ident_of, new_hub_hooks
from ._idle import DeadlockError, census
from ._locks import RLock, watch as _locks_watch
from ._originals import real_start_new_thread, real_allocate_lock, real_rlock, real_signal
from ._park import waiter_of as _waiter_of, PARKED
from ._sync import watch as _sync_watch
from ._threads import Thread, _active, thread_end_hooks
from .pool import ThreadPool

__all__ = ['DeadlockError', 'deadlock_error', 'blocked_threads', 'format_all', 'dump_all',
           'monitor_stalls', 'StallMonitor', 'dump_on_signal', 'check_lock_order',
           'LockOrderChecker', 'LockOrderError']

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_monotonic = time.monotonic
_POLLER_FILE = _poller.__file__


def _ours(filename):
    """True for a file of this package (its frames are left out of what users are shown)."""
    return os.path.dirname(os.path.abspath(filename)) == _PACKAGE_DIR


def _user_frame(frame):
    """The innermost frame outside this package (where the user's code waits)."""
    while frame is not None and _ours(frame.f_code.co_filename):
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
    entries = [entry for entry in traceback.extract_stack(frame) if not _ours(entry.filename)]
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
            # (A hub whose OS thread ended has let go of its greenlet; another
            # OS thread, this watchdog even, may have its ident by now.)
            frame = frames.get(hub.thread_ident) if hub.greenlet is not None else None
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


# -------------------------------------------------------------- lock order
class LockOrderError(RuntimeError, Warning):
    """Two locks taken in opposite orders: a deadlock waiting for its schedule.

    Raised (or, with ``check_lock_order(warn=True)``, warned: it is a Warning
    category too) by the acquisition that closes a cycle in the order locks
    have been taken while others were held, whether or not any thread is
    stuck.  ``taking`` is the lock being taken, ``held`` the one held while
    taking it; ``path`` is the earlier orders that lead from ``taking`` back
    to ``held``, each ``(first, then, thread name, stack)``: ``then`` was
    taken while ``first`` was held.
    """

    def __init__(self, message, taking=None, held=None, path=()):
        super().__init__(message)
        self.taking = taking
        self.held = held
        self.path = list(path)


class _Order:
    """One edge of the lock-order graph: ``then`` taken while ``first`` was held."""
    __slots__ = ('first', 'then', 'thread', 'stack')

    def __init__(self, first, then, thread, stack):
        self.first, self.then, self.thread, self.stack = first, then, thread, stack


class _LockRef(weakref.ref):
    """A weak reference to a lock in the graph, knowing the lock's id after it dies."""
    __slots__ = ('key',)


class LockOrderChecker:
    """Records which locks each green thread takes while holding others.

    A directed graph, lock -> locks taken while it was held; it is kept
    without cycles: an acquisition that would close one is reported
    instead of recorded (raised as :class:`LockOrderError`, or warned once
    per pair with ``warn=True``).  A blocking acquisition that must wait is
    checked before it waits, so an order that is about to deadlock is
    reported rather than hung on.  A try-lock (``acquire(False)``) cannot
    wait, so it orders nothing before it, only after.  Locks are known by
    id while they live; a dead lock's edges are dropped.  The graph is
    shared by every OS thread (under a real lock, never held across a switch).
    """

    def __init__(self, warn=False):
        self.warn = warn
        self.reports = 0
        self._mutex = real_rlock()
        self._held = {}        # greenlet -> [lock, ...] it holds, in the order taken
        self._holders = {}     # id(lock) -> [greenlet, ...], one per hold (a Semaphore: several)
        self._after = {}       # id(first) -> {id(then): _Order}
        self._before = {}      # id(then) -> {id(first)}: to drop a dead lock's edges
        self._refs = {}        # id(lock) -> _LockRef, for every lock in the graph
        self._dead = []        # _LockRefs of locks that died, to drop at the next change
        self._reported = set()    # (id(first), id(then)) warned about
        self._quiet = set()       # greenlets re-taking a Condition's lock (see retake)

    # -- the hooks (_locks.watch, _sync.watch)
    def check(self, lock):
        """The current green thread is about to wait for ``lock``: raise (or warn)
        if that inverts a recorded order, else record the order (waiting for it
        while holding others is what can deadlock, taken or not)."""
        me = getcurrent()
        held = self._held.get(me)
        if held and me not in self._quiet:
            self._complain(self._verify(lock, held))

    def took(self, lock, blocking, give_back):
        """``lock`` was just taken by the current green thread."""
        me = getcurrent()
        if me in self._quiet:
            return
        held = self._held.get(me)
        error = self._verify(lock, held) if held and blocking else None
        if error is not None and not self.warn and give_back:
            lock.release()
            raise error
        with self._mutex:
            self._held.setdefault(me, []).append(lock)
            self._holders.setdefault(id(lock), []).append(me)
        self._complain(error)

    def gave(self, lock):
        """``lock`` is being let go (by whichever thread: the current one if it holds it)."""
        me = getcurrent()
        if me in self._quiet:
            return
        with self._mutex:
            holders = self._holders.get(id(lock))
            if not holders:
                return                 # taken before the checker started
            glet = me if me in holders else holders[0]
            holders.remove(glet)
            if not holders:
                del self._holders[id(lock)]
            held = self._held.get(glet, [])
            for i in range(len(held) - 1, -1, -1):
                if held[i] is lock:
                    del held[i]
                    break
            if not held:
                self._held.pop(glet, None)

    def retake(self, lock):
        """Take ``lock`` back for a Condition's wait, whatever the order: the
        wait must return (or raise) holding it; a bad order is reported after."""
        me = getcurrent()
        self._quiet.add(me)
        try:
            lock.acquire()
        finally:
            self._quiet.discard(me)
        self.took(lock, True, False)

    def forget(self, glet):
        """A green thread ended: what it still holds is held by nobody that can wait."""
        with self._mutex:
            for lock in self._held.pop(glet, ()):
                holders = self._holders.get(id(lock), [])
                if glet in holders:
                    holders.remove(glet)
                if not holders:
                    self._holders.pop(id(lock), None)

    # -- the graph
    def _verify(self, lock, held):
        """Record held -> lock; the LockOrderError for the first order that would close a cycle, or None."""
        error = where = None
        with self._mutex:
            self._drop_dead()
            key = id(lock)
            for first in held:
                if first is lock or key in self._after.get(id(first), ()):
                    continue
                if where is None:       # who and where: one stack for every new order
                    where = (_current_name(), _caller_stack())
                path = self._path(key, id(first))
                if path is None:
                    self._add(first, lock, where)
                elif error is None:
                    error = self._report(lock, first, path, where)
        return error

    def _complain(self, error):
        # Outside the mutex: a warning runs user code (showwarning, logging).
        if error is not None:
            if not self.warn:
                raise error
            warnings.warn(error, stacklevel=_warn_level())

    def _path(self, start, goal):
        """The edges of a path start -> ... -> goal in the graph, or None."""
        came = {start: None}      # node -> (the node before it, the edge between)
        todo = [start]
        while todo:
            node = todo.pop()
            for nxt, order in self._after.get(node, {}).items():
                if nxt in came:
                    continue
                came[nxt] = (node, order)
                if nxt == goal:
                    path = []
                    while came[nxt] is not None:
                        nxt, order = came[nxt]
                        path.append(order)
                    return path[::-1]
                todo.append(nxt)
        return None

    def _know(self, *locks):
        for lock in locks:
            if id(lock) not in self._refs:
                ref = self._refs[id(lock)] = _LockRef(lock, self._died)
                ref.key = id(lock)

    def _add(self, first, then, where):
        self._know(first, then)
        order = _Order(_lock_name(first), _lock_name(then), *where)
        self._after.setdefault(id(first), {})[id(then)] = order
        self._before.setdefault(id(then), set()).add(id(first))

    def _died(self, ref):
        # (A GC callback: any thread, any moment; the next change drops it.)
        self._dead.append(ref)

    def _drop_dead(self):
        while self._dead:
            key = self._dead.pop().key
            del self._refs[key]
            for then in self._after.pop(key, {}):
                self._before.get(then, set()).discard(key)
            for first in self._before.pop(key, ()):
                self._after.get(first, {}).pop(key, None)
            self._reported = {pair for pair in self._reported if key not in pair}

    def _report(self, lock, first, path, where):
        """The LockOrderError for taking ``lock`` holding ``first`` (None: warned about already)."""
        pair = (id(first), id(lock))
        if self.warn and pair in self._reported:
            return None
        self._know(first, lock)        # (a dead one's pairs leave _reported with it)
        self._reported.add(pair)
        self.reports += 1
        name, stack = where
        lines = [f'lock order inversion: {name} takes {_lock_name(lock)} '
                 f'while holding {_lock_name(first)}, but earlier:']
        for order in path:
            lines.append(f'  {order.thread} took {order.then} while holding {order.first}, at:')
            lines.extend('    ' + line for line in order.stack)
        lines.append(f'  and now {name} takes {_lock_name(lock)} '
                     f'while holding {_lock_name(first)}, at:')
        lines.extend('    ' + line for line in stack)
        return LockOrderError('\n'.join(lines), lock, first, [
            (o.first, o.then, o.thread, o.stack) for o in path])


def _lock_name(lock):
    return f'<{type(lock).__name__} at {id(lock):#x}>'


def _current_name():
    ident = ident_of(getcurrent())
    thread = _active.get(ident)
    return repr(thread.name) if thread is not None else f'green thread {ident}'


def _caller_stack():
    """The current stack outside this package, as lines of traceback text."""
    return _user_stack(sys._getframe(1)).rstrip('\n').split('\n')


def _warn_level():
    """warnings.warn's stacklevel that points at the user's acquire."""
    frame, level = sys._getframe(1), 1
    while frame is not None and _ours(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


_checker = None


def check_lock_order(enabled=True, *, warn=False):
    """Check the order in which locks are taken while others are held, from now on.

    Lock, RLock (a Condition's lock included: waiting re-takes it) and a
    Semaphore taken by a with-statement are watched.  The first acquisition
    that closes a cycle (thread 1 took A then B, thread 2 takes B while
    holding A, in this run or an earlier one that never deadlocked) raises
    :class:`LockOrderError` naming both locks and the stacks that set each
    order (``warn=True``: warns it instead, once per pair).  Locks held
    when it starts are not known to it.  ``enabled=False`` stops it.
    ``GREENTHREADS_LOCKDEP=1`` (or ``=warn``) in the environment starts it at
    import.  Returns the :class:`LockOrderChecker` (or None).
    """
    global _checker
    if _checker is not None:
        thread_end_hooks.remove(_checker.forget)
    _checker = LockOrderChecker(warn) if enabled else None
    if _checker is not None:
        thread_end_hooks.append(_checker.forget)
    _locks_watch(_checker)
    _sync_watch(_checker)
    return _checker


def _install(hub):
    hub.on_deadlock = deadlock_error
    _hubs.add(hub)


new_hub_hooks.append(_install)

if os.environ.get('GREENTHREADS_STALL_MS'):
    monitor_stalls(float(os.environ['GREENTHREADS_STALL_MS']) / 1000)
if os.environ.get('GREENTHREADS_LOCKDEP', '0') not in ('', '0'):
    check_lock_order(warn=os.environ['GREENTHREADS_LOCKDEP'] == 'warn')
