"""Diagnostics: what every green thread is doing, and the deadlock report.

The hub calls :func:`deadlock_error` (installed as ``Hub.on_deadlock``) when
nothing can ever run again.  Nothing is recorded at park time to make this
possible: a parked green thread's suspended frames already hold its
:class:`~greenthreads._park.Waiter`, and the report reads it from there.
"""

import os
import sys
import traceback

from ._hub import ident_of, new_hub_hooks
from ._idle import DeadlockError, census
from ._locks import RLock
from ._park import waiter_of as _waiter_of, PARKED
from ._threads import Thread, _active
from .pool import ThreadPool

__all__ = ['DeadlockError', 'deadlock_error', 'blocked_threads', 'format_all', 'dump_all']

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))




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


def format_all():
    """The stack of every live green thread, as one string (like faulthandler's dump)."""
    chunks = []
    me = None
    try:
        from greenlet import getcurrent
        me = getcurrent()
    except Exception:  # pragma: no cover
        pass
    for thread in list(_active.values()):
        g = thread._greenlet
        if g is None or g.dead:
            continue
        frame = sys._getframe(1) if g is me else g.gr_frame
        waiter = _waiter_of(g) if g is not me else None
        head = f'{thread!r}'
        if waiter is not None and waiter.state == PARKED:
            head += f' waiting on {_describe(waiter.reason)}'
        chunks.append(head + '\n' + ''.join(traceback.format_stack(frame)))
    return '\n'.join(chunks)


def dump_all(file=None):
    """Print the stack of every live green thread to ``file`` (default: stderr)."""
    print(format_all(), file=file if file is not None else sys.stderr, flush=True)


def _install(hub):
    hub.on_deadlock = deadlock_error


new_hub_hooks.append(_install)
