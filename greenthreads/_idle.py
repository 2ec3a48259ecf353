"""What an idle hub may conclude: could anything still wake it, or is this a deadlock?

A hub with nothing to run, no timer and no I/O to wait for can only be woken
by a call from another OS thread (:meth:`Hub.call_threadsafe`) or by a
signal handler.  This room keeps the :data:`census` of the OS threads that
could still make such a call, and the verdicts drawn from it:

* a hub of another OS thread that has nothing of its own that could wake it
  registers as *stalled* (:func:`stall`); the first call made to it
  unregisters it (:func:`unstall`);
* the main OS thread's idle hub asks :func:`alone`: no OS thread left that
  could run (``_thread._count()`` + pool workers starting - idle pool workers
  - stalled hubs) means a deadlock, once the verdict has held twice with
  nothing changed in between (see there).

Hubs are duck-typed here (``is_main_os_thread``, ``outside_refs``,
``threadsafe_calls``, ``stalled``, ``suspect``, ``on_deadlock``, ``root``,
``call_threadsafe``): this room sits below the hub.
"""

import signal

from ._originals import real_allocate_lock as _real_allocate_lock, \
    real_thread_count as _real_thread_count

__all__ = ['DeadlockError', 'census', 'idle_timeout', 'alone', 'stall', 'unstall', 'signal_may_wake',
           'catchable_signals', 'after_fork']

# While another OS thread might still call in, an otherwise idle main hub
# re-checks this often whether that is still possible (it is not a busy
# wait: nothing runs in between).
_OUTSIDE_RECHECK = 0.5


class DeadlockError(RuntimeError):
    """Every green thread is blocked and nothing can ever wake one of them.

    Raised in the OS thread's main (root) greenlet; the message names each
    blocked thread and what it waits on.
    """


class Census:
    """The OS threads that could still call into a hub, as far as the package knows.

    ``idle_workers``: live pool workers waiting for a job (they call nobody
    until given one).  ``starting_workers``: pool workers started but not yet
    counted by ``_thread._count()``.  ``stalled``: hubs of other OS threads
    waiting for ever for a call (like idle workers, they wake nobody until
    called).  ``epoch`` counts changes to all of these, so a verdict can
    tell whether anything moved while it was drawn.  ``lock`` guards
    ``stalled`` and ``epoch``; the pool updates its counts under its own
    lock and bumps ``epoch``.  ``main_hub``: the main OS thread's hub, which a
    stalling hub asks to look again.
    """
    __slots__ = ('idle_workers', 'starting_workers', 'stalled', 'epoch', 'lock', 'main_hub')

    def __init__(self):
        self.idle_workers = 0
        self.starting_workers = 0
        self.stalled = set()
        self.epoch = 0
        self.lock = _real_allocate_lock()
        self.main_hub = None

    def others_may_run(self):
        """Whether another OS thread may still run and call into a hub (call under ``lock``)."""
        return (_real_thread_count() + self.starting_workers - self.idle_workers
                - len(self.stalled)) > 0


census = Census()


def idle_timeout(hub):
    """How long ``hub`` may sleep with nothing ready, no timer and no I/O; None: look again now.

    Declares the deadlock (see :func:`declare_deadlock`) when nothing can
    ever wake the hub again.
    """
    if not hub.is_main_os_thread:
        # Only another OS thread can make work now (the main one may still):
        # wait for it, counted as stalled unless outside work of our own is
        # in flight.
        if not hub.outside_refs and not stall(hub):
            return None             # a call came in meanwhile
        return -1
    verdict = alone(hub)
    if verdict is False:
        # A pool job (or a foreign thread parked on our primitives) reports
        # back when done, and a worker that stalls says so; any other OS
        # thread might call in, or end without doing so: look again now and then.
        return -1 if hub.outside_refs else _OUTSIDE_RECHECK
    if signal_may_wake():
        return -1
    if verdict:
        declare_deadlock(hub)
        return None
    return _OUTSIDE_RECHECK          # not sure yet: see alone()


def declare_deadlock(hub):
    """Raise a DeadlockError in ``hub``'s root greenlet, built by ``hub.on_deadlock`` if set."""
    exc = None
    if hub.on_deadlock is not None:
        try:
            exc = hub.on_deadlock(hub)
        except Exception as err:  # a broken report must not hide the deadlock
            exc = DeadlockError(f'every green thread is blocked (report failed: {err!r})')
    if exc is None:
        exc = DeadlockError('every green thread is blocked and nothing can wake them')
    if hub.root.dead:  # pragma: no cover - the OS thread is finishing
        raise exc
    hub.root.throw(exc)


def alone(hub):
    """Whether no other OS thread can ever call into ``hub`` (idle) again.

    True is a deadlock.  With stalled hubs or outside work in flight the
    verdict must come out the same twice in a row, with nothing run in
    ``hub`` and nothing changed elsewhere in between (a worker may be just
    handing back a result or taking a job, a call just reaching a stalled
    hub): the first time it is None, "look again in a while".  The hub
    clears ``hub.suspect`` whenever it runs something.
    """
    with census.lock:
        if census.others_may_run():
            hub.suspect = None
            return False
        if not census.stalled and not hub.outside_refs:
            return True
        epoch = census.epoch
    if hub.suspect == epoch:
        return True
    hub.suspect = epoch
    return None


def stall(hub):
    """Count ``hub`` as stalled before it waits for ever; False if a call came in meanwhile.

    If that leaves no OS thread able to run, the main OS thread's hub is
    told: it may be idle, waiting for the work this thread was doing.
    """
    with census.lock:
        if hub.threadsafe_calls:
            return False
        census.stalled.add(hub)
        hub.stalled = True
        census.epoch += 1
        stuck = not census.others_may_run()
    main = census.main_hub
    if stuck and main is not None and main is not hub:
        main.call_threadsafe(_look_again)
    return True


def unstall(hub):
    """``hub`` is stalled no more (a call came in, or its poll returned)."""
    with census.lock:
        if hub.stalled:
            census.stalled.discard(hub)
            hub.stalled = False
            census.epoch += 1


def _look_again(_):
    """Nothing to do: being called makes an idle hub re-check whether it is alone."""


def signal_may_wake():
    """Could a Python signal handler run and wake a green thread?

    A handler that just raises KeyboardInterrupt does not count (that is
    not progress), and neither does a SIGALRM handler when no alarm is armed.
    """
    getsignal = signal.getsignal
    default_int = signal.default_int_handler
    for signum in catchable_signals():
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


_SIGNALS = []


def catchable_signals():
    """Every signal number a handler can be installed for, in order."""
    if not _SIGNALS:
        _SIGNALS.extend(sorted(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}))
    return _SIGNALS


def after_fork(main_hub):
    """In a forked child: no other OS thread's hub exists, stalled or not; ``main_hub`` is the main one.

    The lock is new: another OS thread may have held it at the fork.  (The
    pool resets its own counts: see ``pool._after_fork_in_child``.)
    """
    census.lock = _real_allocate_lock()
    census.stalled.clear()
    census.epoch += 1
    census.main_hub = main_hub
