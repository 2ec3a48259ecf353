"""The last phase: green primitives used while the interpreter finalises.

After the ``atexit`` callbacks CPython finalises: it collects garbage and
tears the modules down, and weakref callbacks and ``__del__`` methods run
then (``logging`` drops a collected handler from one, under its lock).  No
other thread ever runs again: one flow of control is left, in the OS thread
that finalises.  greenlet stops answering ``getcurrent()`` (3.5 raises
``RuntimeError: greenlet is being finalized``; 3.4 returns None, and already
during the ``atexit`` callbacks registered before greenlet was imported), and
the hub must not run either: it would resume green threads that, native,
would never run again.

The contract, for code running in an OS thread once greenlet refuses there
or the interpreter finalises:

* it is that OS thread's root greenlet (in the finalising thread, the main
  thread): ``get_ident()`` gives the OS thread's ident, ``current_thread()``
  its Thread, a ``local`` its values, and an RLock it held is still its own;
* every primitive behaves as it would uncontended in a single thread: a free
  lock is taken and released, an RLock re-entered, an Event set and passed
  through, and nothing is printed;
* a wait is a real wait of the OS thread, during which nothing else runs: a
  timeout (``time.sleep``, ``acquire(timeout=...)``, ``Event.wait(t)``)
  passes in real time and ends as a timeout, and a wait on a file descriptor
  polls it;
* a wait that only another thread could end, with no timeout, raises
  :class:`DeadlockError` (a native thread would hang there for ever).  Only
  while the interpreter does not finalise yet (greenlet 3.4's early refusal)
  can another OS thread still end it, and then it waits for them.

This costs nothing before then, under one rule: every module of the package
calls greenlet's ``getcurrent`` through a module global (``from greenlet
import getcurrent``), never through a local alias or a default argument.  An
``atexit`` callback registered at import (so it runs before greenlet's own,
and before finalisation) rebinds each such global to :func:`current`, which
answers exactly as greenlet does while greenlet can.

The package imports this module first: CPython wipes the globals of the
modules still alive late in finalisation, latest imported first, so this
module's go after those of every module that calls :func:`current`.
"""

import atexit
import select
import sys
import time

from greenlet import getcurrent as _getcurrent

from ._hub import tls as _tls, new_hub_hooks
from ._idle import DeadlockError, census
from ._originals import real_local as _real_local, real_poll as _real_poll, \
    real_thread_count as _real_thread_count
from ._park import PARKED, RESUME, YIELD, Waiter
from ._poller import READ, WRITE, CHECK_READ

__all__ = ['current']

_is_finalizing = sys.is_finalizing
_monotonic = time.monotonic
# Per direction of an fd interest: the poll(2) events to ask for, and the
# events that fire it (errors and hang-ups fire both, as in the hub).
_ASK = {READ: select.POLLIN | select.POLLPRI, WRITE: select.POLLOUT}
_FIRE = {READ: CHECK_READ, WRITE: select.POLLOUT | select.POLLERR | select.POLLHUP | select.POLLNVAL}
_PACKAGE = __name__.rpartition('.')[0]

#: Per OS thread: ``root``, the greenlet that stands for the thread once
#: greenlet cannot name it (set by _at_exit in the thread that finalises).
_flow = _real_local()


def current():
    """The calling green thread's greenlet, or its stand-in once greenlet cannot answer.

    Before the interpreter finalises, and while greenlet answers, this is
    ``greenlet.getcurrent()``.  From then on it is the OS thread's root
    greenlet, and the OS thread's hub is retired (see the module docstring).
    Never raises.
    """
    try:
        g = _getcurrent()
    except RuntimeError:
        return _alone(None)
    # greenlet 3.4 answers None where 3.5 raises; one before 3.4 still
    # answers while the interpreter finalises, but the hub must not run.
    if g is None or _is_finalizing():
        return _alone(g)
    return g


def _alone(g):
    hub = getattr(_tls, 'hub', None)
    if hub is not None and hub.greenlet.__class__ is not _Retired:
        _retire(hub)
    if g is None:
        g = getattr(_flow, 'root', None)
        if g is None:
            g = _flow.root = hub.root if hub is not None else _Flow()
    return g


def _greenlet_refuses():
    try:
        return _getcurrent() is None or _is_finalizing()
    except RuntimeError:
        return True


def _retire(hub):
    """From now on ``hub`` serves only the one flow of control left in its OS thread."""
    hub.greenlet = _Retired(hub)
    hub.direct_budget = 0


def _retire_if_alone(hub):
    # A hub made after the switch-over (its thread had none yet).
    if _greenlet_refuses():
        _retire(hub)


class _Retired:
    """What a retired hub has for its greenlet: switching to it waits in place.

    park() and yield_now() switch to the hub when the calling green thread
    must wait; once the hub cannot run, the wait happens right there, in the
    flow that asked (see :func:`_wait_in_place`).
    """
    __slots__ = ('hub',)

    def __init__(self, hub):
        self.hub = hub

    def switch(self, *args):
        # park() passes its Waiter, yield_now() YIELD (see there).
        return _wait_in_place(self.hub, args[0] if args else None)


class _Flow:
    """Stands for an OS thread's root greenlet that greenlet no longer names.

    Only needed by a thread that never had a hub and reached none of the
    package's code before greenlet refused (greenlet 3.4's early refusal).
    """
    __slots__ = ('__dict__', '__weakref__')
    parent = None
    dead = False
    gr_frame = None

    def switch(self, *args):
        return None


def _wait_in_place(hub, waiting_for):
    """Wait, in the calling flow, for what can still end the wait park() is in.

    That is the waiter's own timer and its own file descriptors, run as the
    hub would run them; and, while other OS threads may still call in, the
    hub's calls from them.  Wake-ups of green threads are dropped: none of
    them will run again.
    """
    hub.direct_budget = 0
    hub.ready.clear()
    if waiting_for is YIELD:
        return None                  # nobody to let run first
    waiter = waiting_for
    if waiter.__class__ is not Waiter:
        # Not reached from park(): never spin in the caller's loop.
        raise DeadlockError('greenthreads: cannot wait here once the hub has stopped')
    if waiter.state != PARKED:
        return None
    timer = hub.timers.find(waiter)
    mine = hub.poller.interests_of(waiter)
    # Until the interpreter finalises, other OS threads may still end the wait.
    listen = not _is_finalizing() and _real_thread_count() - census.idle_workers > 0 \
        and not hub.wakeup.closed
    if timer is None and not mine and not listen:
        raise DeadlockError(
            f'waiting on {waiter.reason!r} at interpreter exit, where no other '
            'thread will ever run again to end the wait')
    _poll_until_resolved(hub, waiter, timer, mine, listen)
    hub.ready.clear()
    return None


def _poll_until_resolved(hub, waiter, timer, mine, listen):
    """Run ``waiter``'s own fd interests ``mine`` and ``timer`` until it is resolved.

    With ``listen``, the calls other OS threads make to the hub run too.
    """
    poller = _real_poll()
    asked = {}
    for fd, event, _ in mine:
        asked[fd] = asked.get(fd, 0) | _ASK[event]
    for fd, ask in asked.items():
        poller.register(fd, ask)
    wake_fd = hub.wakeup.read_fd if listen else None
    if listen:
        poller.register(wake_fd, select.POLLIN)
    while waiter.state == PARKED:
        wait = None if timer is None else max(timer.deadline - _monotonic(), 0.0) * 1000.0
        for fd, revents in poller.poll(wait):
            if fd == wake_fd:
                _serve_other_threads(hub)
                continue
            for own_fd, event, handle in mine:
                if own_fd == fd and revents & _FIRE[event]:
                    hub.poller.remove(fd, handle)
                    callback, arg = handle
                    callback(arg)
        if waiter.state == PARKED and timer is not None and _monotonic() >= timer.deadline:
            callback, arg = timer.callback, timer.arg
            hub.timers.cancel(timer)
            callback(arg)


def _serve_other_threads(hub):
    for callback, arg in hub.take_threadsafe_calls():
        if callback is not RESUME:   # a green thread's wake-up: it will not run again
            callback(arg)


def _at_exit():
    """Switch the package over to :func:`current` (see the module docstring)."""
    try:
        g = _getcurrent()
    except RuntimeError:
        g = None
    if g is not None:
        while g.parent is not None:
            g = g.parent
        _flow.root = g
    me = sys.modules[__name__]
    for name, module in list(sys.modules.items()):
        if module is me or not (name == _PACKAGE or name.startswith(_PACKAGE + '.')):
            continue
        namespace = getattr(module, '__dict__', None) or {}
        for key, value in list(namespace.items()):
            if value is _getcurrent:
                namespace[key] = current
    if _retire_if_alone not in new_hub_hooks:
        new_hub_hooks.append(_retire_if_alone)


atexit.register(_at_exit)
