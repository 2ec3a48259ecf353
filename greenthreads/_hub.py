"""The hub: one scheduler greenlet per OS thread.

The hub owns everything a parked green thread can be woken by:

* ``ready``: a FIFO deque of ``(callable, argument)`` pairs.  Waking a green
  thread is appending ``(glet.switch, value)``; the hub calls each in turn.
* a timer heap keyed by ``time.monotonic()`` deadlines.  Arming is O(log n),
  cancelling is O(1) (the entry is marked dead) and dead entries are compacted
  away once they make up most of the heap.
* an I/O poller (epoll where available, else poll): interest in a file
  descriptor becoming readable or writable (edge-triggered with epoll, see
  :meth:`Hub.add_io`).
* a thread-safe entry, :meth:`Hub.call_threadsafe`, through a self-pipe, so a
  real OS thread can schedule work on this hub and wake it from the poller.

The hub knows nothing of threads, locks or waiters: those rooms are built on
top of it (``_park`` and up) and plug in through :attr:`Hub.on_deadlock`.
"""

import heapq
import itertools
import os
import select
import signal
import sys
import time
import traceback
import weakref
from collections import deque

from greenlet import greenlet, getcurrent

# The real functions this room uses (the hub itself must never park).
from ._originals import (real_get_ident as _real_get_ident, real_thread_count as _real_thread_count,
                         real_local as _real_local, real_allocate_lock as _real_allocate_lock,
                         main_os_ident as _main_os_ident, real_epoll as _real_epoll,
                         real_poll as _real_poll, os_read as _os_read, os_write as _os_write)

__all__ = ['Hub', 'Runner', 'get_hub', 'peek_hub', 'ident_of', 'READ', 'WRITE', 'HubBlockingError',
           'DeadlockError']

# Anything a reader should look at: data, urgent data, hang-up, error, a closed fd.
_CHECK_READ = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL
_monotonic = time.monotonic
_heappush = heapq.heappush
_heappop = heapq.heappop

READ = 1
WRITE = 4  # the values of select.POLLIN / POLLOUT (and EPOLLIN / EPOLLOUT)

if _real_epoll is not None:
    # Edge-triggered interest in both directions, registered once per fd.
    _EDGE = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
    _ERR_EVENTS = select.EPOLLERR | select.EPOLLHUP
    _READ_EVENTS = READ | select.EPOLLRDHUP | _ERR_EVENTS
else:  # pragma: no cover - non-Linux
    _EDGE = 0
    _ERR_EVENTS = select.POLLERR | select.POLLHUP | select.POLLNVAL
    _READ_EVENTS = READ | _ERR_EVENTS
_WRITE_EVENTS = WRITE | _ERR_EVENTS

# epoll takes a float of seconds but converts to milliseconds in an int; keep
# every single poll well inside that range and loop for longer waits.
_MAX_POLL = 3600.0
# While another OS thread might still call in, an otherwise idle hub re-checks
# this often whether that is still possible (it is not a busy wait: nothing
# runs in between).
_OUTSIDE_RECHECK = 0.5


class HubBlockingError(RuntimeError):
    """A blocking call was made from inside the hub (e.g. a timer callback)."""


class DeadlockError(RuntimeError):
    """Every green thread is blocked and nothing can ever wake one of them.

    Raised in the OS thread's main (root) greenlet; the message names each
    blocked thread and what it waits on.
    """


class Runner(greenlet):
    """A pooled greenlet that runs one job after another (see :meth:`Hub.spawn`).

    Starting a greenlet costs far more than switching to one (on Python 3.11+
    each new greenlet maps and unmaps a frame stack chunk), so finished jobs
    hand their greenlet back to the hub for the next job.  ``job`` is the
    argument of the job running now; ``ident`` and ``thread`` describe it and
    are filled in by the layers above.
    """
    __slots__ = ('ident', 'thread', 'job')


# Green-to-green switches allowed between two hub turns.
_DIRECT_BUDGET = 64

# Idle runners kept per hub; beyond this a finished runner simply ends.
_MAX_IDLE_RUNNERS = 256


class Hub:
    """The scheduler of one OS thread's green threads.  Create with :func:`get_hub`."""

    def __init__(self):
        self.thread_ident = _real_get_ident()
        self.is_main_os_thread = self.thread_ident == _main_os_ident
        root = getcurrent()
        while root.parent is not None:
            root = root.parent
        #: The OS thread's own (root) greenlet; errors for "the main thread" go here.
        self.root = root
        _root_idents[root] = self.thread_ident
        self.greenlet = greenlet(self._run, root)
        self.ready = deque()
        self._timers = []          # heap of [deadline, seq, callback, arg]
        self._cancelled = 0        # dead entries still in the heap
        self._seq = itertools.count().__next__
        self._io = {}              # fd -> [[read handles], [write handles], armed]
        self._io_waiters = 0       # interests not yet fired or withdrawn
        self._unsure = set()       # fds whose readers parked on a guess (see add_io)
        self._threadsafe = deque()
        self._wake_pending = False
        self._wake_lock = _real_allocate_lock()
        self._closed = False
        self._idle_runners = []
        #: How many times parking green threads may switch straight to the
        #: next runnable one before the hub must look at timers and I/O.
        self.direct_budget = 0
        #: Work in flight that a foreign OS thread will report back on (thread
        #: pool jobs, foreign threads parked on our primitives).  While it is
        #: non-zero an idle hub waits instead of declaring a deadlock.
        self.outside_refs = 0
        #: This OS thread's main green thread: the root greenlet, or after a
        #: fork from another green thread, that one (it is all the child has).
        self.main_glet = root
        #: (function, args) to run in main_glet as soon as it runs: signal
        #: handlers, see call_in_main.
        self.main_calls = []
        #: Called when nothing can ever run again; returns the exception to
        #: raise in the root greenlet.  Installed by the thread layer.
        self.on_deadlock = None
        #: Called with (callback, exc_info) when a callback run by the hub raises.
        self.on_error = None
        self._owns_wakeup_fd = False
        self._wake_w_before_fork = None
        self._stalled = False      # in _stalled_hubs (see _stall)
        self._suspect = None       # _os_epoch when this hub last found itself alone
        self._open_fds()

    def _open_fds(self):
        """The poller, the wake-up pipe and (main OS thread) the signal wake-up fd."""
        if _real_epoll is not None:
            self._poller = _real_epoll()
            self._poll = self._poller.poll
        else:  # pragma: no cover - non-Linux
            self._poller = _real_poll()
            self._poll = lambda t: self._poller.poll(None if t < 0 else t * 1000.0)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poller.register(self._wake_r, READ)
        if self.is_main_os_thread:
            # A signal caught by the C handler while another OS thread runs must
            # still interrupt our poll so its Python handler runs promptly.
            try:
                old = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
            except ValueError:  # pragma: no cover - not the main interpreter
                return
            if old not in (-1, self._wake_w_before_fork):
                signal.set_wakeup_fd(old)   # somebody else's (asyncio?): leave it
            else:
                self._owns_wakeup_fd = True

    def reinit_after_fork(self):
        """In a forked child: fresh poller and pipe; forget every parent's pending work.

        The parent's green threads do not exist in the child; what they were
        waiting on must never wake them.  Containers are cleared in place
        because the suspended hub loop holds references to them.
        """
        self._wake_w_before_fork = self._wake_w
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self._poller.close()
        except OSError:
            pass
        self.thread_ident = _real_get_ident()
        self.is_main_os_thread = True
        self.ready.clear()
        self._timers.clear()
        self._cancelled = 0
        self._io.clear()
        self._io_waiters = 0
        self._unsure.clear()
        self._threadsafe.clear()
        self._wake_pending = False
        # Another OS thread may have held it at the fork (a thread pool worker
        # handing back a result): nobody would ever release it in the child.
        self._wake_lock = _real_allocate_lock()
        self._idle_runners.clear()
        self.outside_refs = 0
        self.main_calls.clear()
        self.main_glet = getcurrent()      # the forking green thread
        # No other OS thread exists in the child, stalled or not (and none
        # will release the lock if one held it at the fork).
        global _stalled_lock
        _stalled_lock = _real_allocate_lock()
        _stalled_hubs.clear()
        self._stalled = False
        self._suspect = None
        _main_hub[0] = self
        self._open_fds()

    # ----------------------------------------------------------- scheduling
    def call_in_main(self, function, args):
        """Run ``function(*args)`` in this OS thread's main green thread, as soon as it runs.

        The main thread is interrupted wherever it waits; what ``function``
        raises comes out of that wait, and if it returns normally the wait
        goes on (see park()).  Call from this hub's OS thread (a signal
        handler), from any greenlet but the main one.
        """
        self.main_calls.append((function, args))
        if getcurrent() is self.greenlet:
            # Noticed by the hub itself, maybe in the middle of a poll that
            # PEP 475 would simply retry: make that poll return.
            try:
                _os_write(self._wake_w, b'\0')
            except OSError:
                pass
        from ._park import waiter_of, PARKED   # _park imports this module
        main = self.main_glet
        waiter = waiter_of(main.gr_frame)
        if waiter is not None and waiter.state == PARKED:
            # A wake-up that resolves nothing: park() runs the calls and parks again.
            self.ready.append((main.switch, None))

    def run_main_calls(self):
        """Run the pending :meth:`call_in_main` calls (in the main green thread).

        If one raises, the rest stay queued; the main thread runs them at its
        next wait, which it checks before it parks.
        """
        calls = self.main_calls
        while calls:
            function, args = calls.pop(0)
            function(*args)

    def call_soon(self, callback, arg=None):
        """Run ``callback(arg)`` in the hub at its next turn (same OS thread only)."""
        self.ready.append((callback, arg))

    def spawn(self, func, arg=None):
        """Run ``func(arg)`` in a green context of its own, starting at the hub's next turn.

        ``func`` must handle its own exceptions: one that escapes ends the
        runner and reaches the hub's error handling.
        """
        self.ready.append((self._start_job, (func, arg)))

    def _start_job(self, job):
        idle = self._idle_runners
        runner = idle.pop() if idle else Runner(self._runner_main, self.greenlet)
        runner.switch(job)

    def _runner_main(self, job):
        me = getcurrent()
        idle = self._idle_runners
        hub_switch = self.greenlet.switch
        while True:
            func, arg = job
            job = None
            me.job = arg
            func(arg)
            me.ident = me.thread = me.job = arg = None
            if len(idle) >= _MAX_IDLE_RUNNERS:
                return
            idle.append(me)
            while job is None or job.__class__ is not tuple or len(job) != 2:
                # Anything but a (func, arg) job is a stray switch: keep waiting.
                job = hub_switch()

    def call_later(self, delay, callback, arg=None):
        """Run ``callback(arg)`` in the hub after ``delay`` seconds; returns a handle for :meth:`cancel_timer`."""
        entry = [_monotonic() + delay, self._seq(), callback, arg]
        _heappush(self._timers, entry)
        return entry

    def cancel_timer(self, entry):
        """Cancel a timer from :meth:`call_later`; a fired or cancelled one is left alone.

        O(1) amortised: the entry is marked dead, and once dead entries are
        most of the heap they are swept out in one pass, here rather than in
        the loop, so a green thread that arms and cancels without ever
        letting the hub run cannot grow the heap either.
        """
        if entry[2] is not None:
            entry[2] = entry[3] = None
            self._cancelled += 1
            if self._cancelled > 256 and self._cancelled * 2 > len(self._timers):
                self._compact_timers()

    def call_threadsafe(self, callback, arg=None):
        """Schedule ``callback(arg)`` on this hub from any OS thread and wake the hub."""
        self._threadsafe.append((callback, arg))
        if self._stalled:
            self._unstall()
        if not self._wake_pending:
            # Under the lock, so close() cannot free the fd number (for
            # somebody else's file to take) between our check and our write.
            with self._wake_lock:
                if self._wake_pending:
                    return
                self._wake_pending = True
                try:
                    _os_write(self._wake_w, b'\0')
                except BlockingIOError:
                    pass  # the pipe is full: the hub will wake anyway
                except OSError:  # pragma: no cover - closed at interpreter exit
                    pass

    # ------------------------------------------------------------------ I/O
    # Each fd the hub has waited on has an entry ``[readers, writers, armed]``:
    # the handles waiting per direction, and how the fd is in the poller
    # (None: not at all; True: registered; an owner key: registered by that
    # owner, see add_io).  With epoll an fd is registered once, edge-triggered
    # for both directions, and stays so until :meth:`close_fd`; an edge
    # nobody waits for is simply dropped (whoever comes next tries the I/O
    # call first, or re-arms).

    def add_io(self, fd, event, callback, arg=None, owner=None, unsure=False):
        """Call ``callback(arg)`` once, when ``fd`` is ready for ``event`` (READ or WRITE).

        The fd's readiness *now* counts: a ready fd fires at the next poll
        (this costs one syscall).  ``owner`` spares that syscall for an object
        that does I/O on ``fd`` and waits only after a call failed with EAGAIN
        (a socket): a key unique to that object, never reused.  Once the fd is
        registered under that key, only a change after the failed call
        counts, which is all such a caller needs.  Either way a callback may
        fire spuriously (retry the call, wait again).

        ``unsure`` (with ``owner``, READ only): the caller did not see EAGAIN
        but guesses the fd has nothing to read (a stream socket's last read
        came back short).  Before the hub next sleeps it checks such fds with
        one ``poll(2)`` for all of them and fires those that are readable, so
        a wrong guess (urgent data, a message boundary) costs a turn, not a hang.

        The callback runs inside the hub, at the poll that saw the event; it
        must not block.  Errors and hang-ups fire both directions.  The
        returned handle is passed to :meth:`remove_io` to withdraw interest
        before it fires.  An fd the poller refuses (a regular file:
        PermissionError) raises here and leaves nothing registered.
        """
        entry = self._io.get(fd)
        if entry is None:
            entry = self._io[fd] = [[], [], None]
        handle = (callback, arg)
        waiting = entry[0] if event == READ else entry[1]
        waiting.append(handle)
        if unsure:
            self._unsure.add(fd)
        if owner is None or entry[2] is not owner:
            # A key seen before proves the registration is this owner's own
            # file: anything else (an fd closed and reused behind our back)
            # goes through the poller.
            try:
                self._arm(fd, entry, owner)
            except BaseException:
                waiting.remove(handle)
                if not entry[0] and not entry[1] and entry[2] is None:
                    del self._io[fd]
                raise
        self._io_waiters += 1
        return handle

    def remove_io(self, fd, handle):
        """Withdraw one :meth:`add_io` interest (no-op if it already fired)."""
        entry = self._io.get(fd)
        if entry is None:
            return
        for waiting in (entry[0], entry[1]):
            try:
                waiting.remove(handle)
            except ValueError:
                continue
            self._io_waiters -= 1
            if not _EDGE:  # pragma: no cover - poll(2) fallback
                self._arm(fd, entry)
            return

    def close_fd(self, fd):
        """``fd`` is about to be closed: wake everything waiting on it, drop its interest.

        The woken green threads retry their call on the closed object and get
        the error plain Python would give them (EBADF), each in its own thread.
        """
        entry = self._io.pop(fd, None)
        if entry is None:
            return
        self._io_waiters -= len(entry[0]) + len(entry[1])
        self.ready.extend(entry[0])     # their callbacks run in the hub, as always
        self.ready.extend(entry[1])
        if entry[2] is not None:
            try:
                self._poller.unregister(fd)
            except (OSError, ValueError, KeyError):
                pass

    def _arm(self, fd, entry, owner=None):
        """Make the poller report ``fd``'s readiness as it is now (one syscall)."""
        poller = self._poller
        if _EDGE:
            # (Re-)registering makes epoll check the fd's state at once.
            if entry[2] is None:
                try:
                    poller.register(fd, _EDGE)
                except FileExistsError:       # still registered from before
                    poller.modify(fd, _EDGE)
            else:
                try:
                    poller.modify(fd, _EDGE)
                except FileNotFoundError:     # closed and reused behind our back
                    poller.register(fd, _EDGE)
            entry[2] = True if owner is None else owner
            return
        # poll(2) fallback (non-Linux): level-triggered, registered only while
        # somebody waits, so every change of waiters re-arms.
        mask = (READ if entry[0] else 0) | (WRITE if entry[1] else 0)
        if not mask:
            del self._io[fd]
            try:
                poller.unregister(fd)
            except (OSError, ValueError, KeyError):
                pass
        elif entry[2] is not None:
            poller.modify(fd, mask)
        else:
            poller.register(fd, mask)
            entry[2] = True

    # ------------------------------------------------------------ main loop
    def _run(self):
        while True:
            try:
                self._loop()
            except BaseException as exc:  # noqa: B902 - the hub must survive anything
                self._handle_error(exc)

    def _handle_error(self, exc):
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            # Ctrl-C (or sys.exit() in a signal handler) raised while the hub
            # ran: it belongs to the OS thread's main code.
            self._throw_root(exc)
            return
        if self.on_error is not None:
            try:
                self.on_error(exc)
                return
            except BaseException:  # pragma: no cover - broken hook
                pass
        try:
            sys.stderr.write('greenthreads hub: error in a callback\n')
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        except Exception:  # pragma: no cover - interpreter teardown
            pass

    def _throw_root(self, exc):
        root = self.root
        if root.dead:  # pragma: no cover - OS thread is finishing
            return
        root.throw(exc)

    def _loop(self):
        ready = self.ready
        popleft = ready.popleft
        timers = self._timers
        threadsafe = self._threadsafe
        io_get = self._io.get
        while True:
            # 1. What is runnable now; newcomers wait a turn so timers and I/O
            #    cannot be starved by threads that keep yielding.  (Parking
            #    threads may also take entries themselves: see direct_budget.)
            self.direct_budget = _DIRECT_BUDGET
            if ready:
                self._suspect = None     # something ran: not alone (see _alone)
            for _ in range(len(ready)):
                if not ready:
                    break
                cb, arg = popleft()
                cb(arg)
            # 2. Calls from other OS threads.
            if threadsafe:
                self._wake_pending = False
                while threadsafe:
                    ready.append(threadsafe.popleft())
            # 3. Due timers.
            if timers:
                now = _monotonic()
                while timers and timers[0][0] <= now:
                    entry = _heappop(timers)
                    cb = entry[2]
                    if cb is None:
                        self._cancelled -= 1
                        continue
                    arg = entry[3]
                    entry[2] = entry[3] = None
                    cb(arg)
            # 4. Poll: not at all when there is work and nothing to poll for.
            if ready:
                if not self._io_waiters:
                    continue
                timeout = 0.0
            elif timers:
                timeout = min(max(timers[0][0] - _monotonic(), 0.0), _MAX_POLL)
            elif threadsafe:
                continue
            elif self._io_waiters:
                timeout = -1
            elif not self.is_main_os_thread:
                # Only another OS thread can make work now (the main one may
                # still): wait for it, counted as stalled unless outside work
                # of our own is in flight.
                if not self.outside_refs and not self._stall():
                    continue            # a call came in meanwhile
                timeout = -1
            else:
                alone = self._alone()
                if alone is False:
                    # A pool job (or a foreign thread parked on our primitives)
                    # reports back when done, and a worker that stalls says so;
                    # any other OS thread might call in, or end without doing
                    # so: look again now and then.
                    timeout = -1 if self.outside_refs else _OUTSIDE_RECHECK
                elif self._signal_may_wake():
                    timeout = -1
                elif alone:
                    self._deadlock()
                    continue
                else:
                    timeout = _OUTSIDE_RECHECK    # not sure yet: see _alone
            if self._unsure:
                guessed = self._check_unsure()
                if guessed:
                    timeout = 0.0
            else:
                guessed = None
            try:
                events = self._poll(timeout)
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
            finally:
                if self._stalled:
                    self._unstall()
            if events:
                self._suspect = None
            if guessed:
                events += guessed
            # 5. Fire the interests each event satisfies (inline: this runs
            #    once per event).  Edge-triggered, so nothing is re-armed.
            wake_r = self._wake_r
            for fd, ev in events:
                if fd == wake_r:
                    self._drain_wakeups()
                    continue
                entry = io_get(fd)
                if entry is None:
                    continue
                if ev & _READ_EVENTS and entry[0]:
                    waiting = entry[0]
                    entry[0] = []
                    self._io_waiters -= len(waiting)
                    for cb, arg in waiting:
                        cb(arg)
                if ev & _WRITE_EVENTS and entry[1]:
                    waiting = entry[1]
                    entry[1] = []
                    self._io_waiters -= len(waiting)
                    for cb, arg in waiting:
                        cb(arg)
                if not _EDGE:  # pragma: no cover - poll(2) fallback
                    self._arm(fd, entry)

    def _check_unsure(self):
        """``(fd, READ)`` for each fd readers parked on a guess for that is readable now.

        The rest were not readable at this check, so from now on their edge
        (registered before the check) is what wakes them.
        """
        io = self._io
        fds = [fd for fd in self._unsure if fd in io and io[fd][0]]
        self._unsure.clear()
        if not fds:
            return None
        return [(fd, READ) for fd in ready_now(fds, _CHECK_READ)] or None

    def _drain_wakeups(self):
        try:
            while _os_read(self._wake_r, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        # Only now: a caller that set the flag after step 2 had emptied the
        # queue wrote the byte just read, and callers that came later and
        # saw the flag still set wrote none; unless cleared here, the next
        # caller would not write either, and the hub would sleep on its call.
        self._wake_pending = False

    def _compact_timers(self):
        # In place: the loop holds the list (and may be popping from it when
        # a timer callback cancels another timer).
        live = [e for e in self._timers if e[2] is not None]
        heapq.heapify(live)
        self._timers[:] = live
        self._cancelled = 0

    # ------------------------------------------------------------- deadlock
    def _alone(self):
        """Whether no other OS thread can ever call into this (idle) hub again.

        True is a deadlock.  With stalled hubs or outside work in flight the
        verdict must come out the same twice in a row, with nothing run here
        and nothing changed elsewhere in between (a worker may be just
        handing back a result or taking a job, a call just reaching a
        stalled hub): the first time it is None, "look again in a while".
        """
        with _stalled_lock:
            if _others_may_run():
                self._suspect = None
                return False
            if not _stalled_hubs and not self.outside_refs:
                return True
            epoch = _os_epoch[0]
        if self._suspect == epoch:
            return True
        self._suspect = epoch
        return None

    def _stall(self):
        """Count this hub as stalled before it waits for ever; False if a call came in meanwhile.

        If that leaves no OS thread able to run, the main OS thread's hub
        is told: it may be idle, waiting for the work this thread was doing.
        """
        with _stalled_lock:
            if self._threadsafe:
                return False
            _stalled_hubs.add(self)
            self._stalled = True
            _os_epoch[0] += 1
            stuck = not _others_may_run()
        main = _main_hub[0]
        if stuck and main is not None and main is not self:
            main.call_threadsafe(_look_again)
        return True

    def _unstall(self):
        with _stalled_lock:
            if self._stalled:
                _stalled_hubs.discard(self)
                self._stalled = False
                _os_epoch[0] += 1

    def _signal_may_wake(self):
        """Could a Python signal handler run and wake a green thread?

        A handler that just raises
        KeyboardInterrupt does not count (that is not progress), and neither
        does a SIGALRM handler when no alarm is armed.
        """
        getsignal = signal.getsignal
        default_int = signal.default_int_handler
        for signum in _catchable_signals():
            try:
                handler = getsignal(signum)
            except (ValueError, OSError):  # pragma: no cover
                continue
            if not callable(handler) or handler is default_int:
                continue
            if signum == signal.SIGALRM and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0):
                continue
            return True
        return False

    def _deadlock(self):
        exc = None
        if self.on_deadlock is not None:
            try:
                exc = self.on_deadlock(self)
            except Exception as err:  # a broken report must not hide the deadlock
                exc = DeadlockError(f'every green thread is blocked (report failed: {err!r})')
        if exc is None:
            exc = DeadlockError('every green thread is blocked and nothing can wake them')
        if self.root.dead:  # pragma: no cover
            raise exc
        self._throw_root(exc)

    def close(self):
        """Release the hub's file descriptors (the hub must not be running); idempotent.

        Calls from other OS threads that come later are dropped: nothing can
        run them any more.
        """
        with self._wake_lock:
            if self._closed:
                return
            self._closed = True
            self._wake_pending = True     # no call_threadsafe writes from now on
        if self._owns_wakeup_fd:
            try:
                signal.set_wakeup_fd(-1)
            except (ValueError, OSError):  # pragma: no cover
                pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass
        self._poller.close()


def _catchable_signals():
    global _SIGNALS
    if _SIGNALS is None:
        _SIGNALS = sorted(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})
    return _SIGNALS


_SIGNALS = None
_tls = _real_local()


class _HubCloser:
    """Closes a hub when its OS thread ends.

    Only the thread's own locals hold it: CPython drops them as the thread
    finishes, and with them this object, whose ``__del__`` then gives the
    hub's file descriptors back.  (The main OS thread's hub lives as long as
    the process, and gets none.)
    """
    __slots__ = ('hub',)

    def __init__(self, hub):
        self.hub = hub

    def __del__(self):
        self.hub.close()


def get_hub():
    """The calling OS thread's hub, created on first use (and closed when that thread ends)."""
    try:
        return _tls.hub
    except AttributeError:
        hub = _tls.hub = Hub()
        if hub.is_main_os_thread:
            _main_hub[0] = hub
        else:
            _tls.closer = _HubCloser(hub)
        for hook in _new_hub_hooks:
            hook(hub)
        return hub


def ready_now(fds, mask):
    """Those of ``fds`` that are ready for ``mask`` (or in error) right now: one poll(2), no wait."""
    checker = _real_poll()
    for fd in fds:
        checker.register(fd, mask)
    return [fd for fd, _ in checker.poll(0)]


def peek_hub():
    """The calling OS thread's hub, or None if it has none yet."""
    return getattr(_tls, 'hub', None)


#: [number of live OS threads that cannot call into a hub: idle pool workers]
_uncounted_os_threads = [0]

# --- Other OS threads that could still make progress.  A hub with nothing
# left to run asks this before it declares a deadlock.
#: [pool workers started but not yet counted by _thread._count()]
_starting_os_threads = [0]
#: Hubs of other OS threads waiting for ever for a call from another OS
#: thread (no timer, I/O or outside work of their own could wake them): like
#: idle pool workers, they can wake nobody until somebody calls them.  A hub
#: leaves the set as soon as a call is made to it (see Hub.call_threadsafe).
_stalled_hubs = set()
_stalled_lock = _real_allocate_lock()
#: [changes so far to what the above describe]: a verdict of "nobody can run"
#: stands only if nothing changed while it was checked twice (see Hub._alone).
_os_epoch = [0]
#: [the main OS thread's hub], which a stalling hub asks to look again.
_main_hub = [None]


def _others_may_run():
    """Whether another OS thread may still run and call into a hub (call under _stalled_lock)."""
    return (_real_thread_count() + _starting_os_threads[0] - _uncounted_os_threads[0]
            - len(_stalled_hubs)) > 0


def _look_again(_):
    """Nothing to do: being called makes an idle hub re-check whether it is alone."""


#: Callables run with every newly created hub (the thread layer installs its
#: deadlock reporter and error handler here).
_new_hub_hooks = []


# Root greenlets report their OS thread's ident (every other greenlet: its id).
_root_idents = weakref.WeakKeyDictionary()


def ident_of(glet):
    """The thread ident ``get_ident()`` reports in greenlet ``glet`` (0 for None)."""
    if glet is None:
        return 0
    if glet.__class__ is Runner:
        return glet.ident or id(glet)
    if glet.parent is not None:
        return id(glet)
    if glet is getcurrent():
        return _real_get_ident()
    return _root_idents.get(glet) or id(glet)
