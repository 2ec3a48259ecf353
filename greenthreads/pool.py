"""A pool of real OS threads for calls that cannot be made cooperative.

``to_thread(fn, *args, **kwargs)`` runs ``fn`` in a real OS thread and parks
only the calling green thread until it is done; the result (or exception)
comes back through the caller's hub's thread-safe entry.  Name resolution
(``getaddrinfo`` and friends), file I/O and C code that blocks belong here.

The pool is bounded (``max_workers``, 10 by default, like gevent's): extra
calls queue.  Workers are started on demand and are plain OS threads made
with the real ``_thread`` (captured at import, before any monkey patching).
While a call is in flight the hub counts it as outside work, so an idle hub
waits for it instead of reporting a deadlock; idle workers are not counted as
possible wakers.
"""

import os
import weakref
from _queue import SimpleQueue   # the C queue: real blocking, never patched

from ._idle import census
from ._originals import (real_start_new_thread as _real_start_new_thread,
                         real_allocate_lock as _real_allocate_lock, real_local as _real_local,
                         real_thread_count as _real_thread_count,
                         real_get_ident as _real_get_ident, main_os_ident as _main_os_ident)
from ._park import Waiter, park, unpark

__all__ = ['to_thread', 'ThreadPool', 'default_pool']

# ``_worker.pool`` is set in a pool's own worker threads.
_worker = _real_local()


class ThreadPool:
    """Real OS worker threads fed from one queue."""

    def __init__(self, max_workers=10):
        if max_workers < 1:
            raise ValueError('max_workers must be at least 1')
        self.max_workers = max_workers
        self._reset()
        _pools.add(self)

    def _reset(self):
        # Also in a forked child: none of the parent's workers exist there,
        # and counting them would leave every new job queued for ever.
        self._jobs = SimpleQueue()
        self._lock = _real_allocate_lock()
        self._workers = 0
        self._idle = 0
        self._queued = 0

    def run(self, fn, /, *args, **kwargs):
        """``fn(*args, **kwargs)`` in one of this pool's threads, parking the caller; its result.

        Its exception, if any, is raised here.  Called from a worker of any
        pool (a job that itself calls something offloaded, as the stdlib's
        ``getfqdn`` calls ``gethostbyaddr``), ``fn`` runs right there: that
        thread is already real and may block, and a job that waited for
        another job could deadlock a pool whose every worker did the same.
        """
        if getattr(_worker, 'pool', None) is not None:
            return fn(*args, **kwargs)
        waiter = Waiter(_Job(fn))
        hub = waiter.hub
        hub.outside_refs += 1
        try:
            self.submit(fn, args, kwargs, waiter)
            park(waiter)
        finally:
            hub.outside_refs -= 1
        ok, value = waiter.value
        if ok:
            return value
        # The traceback keeps this frame: it must not keep the caller's
        # arguments alive too (a C function raising would not).
        del fn, args, kwargs, waiter
        raise value

    def submit(self, fn, args, kwargs, waiter):
        """Queue ``fn(*args, **kwargs)``; ``waiter`` is unparked with (ok, value)."""
        with self._lock:
            self._queued += 1
            # A worker per queued job, up to the bound: idle ones take jobs first.
            if self._queued > self._idle and self._workers < self.max_workers:
                self._workers += 1
                # Counted as able to run until _thread._count() counts it.
                census.starting_workers += 1
                _real_start_new_thread(self._work, ())
        self._jobs.put((fn, args, kwargs, waiter))

    def _work(self):
        _worker.pool = self
        jobs = self._jobs
        with self._lock:
            census.starting_workers -= 1
        while True:
            with self._lock:
                self._idle += 1
                census.idle_workers += 1
                census.epoch += 1
            job = jobs.get()
            with self._lock:
                self._idle -= 1
                self._queued -= 1
                census.idle_workers -= 1
                census.epoch += 1
            fn, args, kwargs, waiter = job
            del job
            try:
                outcome = (True, fn(*args, **kwargs))
            except BaseException as exc:  # noqa: B902 - handed to the caller, raised there
                outcome = (False, exc)
            # Let go of the call before the caller runs again: it may count
            # the references to its arguments (as after a C call).
            del fn, args, kwargs
            unpark(waiter, outcome)
            del waiter, outcome


#: Every ThreadPool, to be emptied in a forked child.
_pools = weakref.WeakSet()


def _after_fork_in_child():
    # Only the forking thread exists in the child: no worker, idle or busy,
    # and no job queued in the parent (its caller did not survive the fork).
    for pool in list(_pools):
        pool._reset()
    # _thread._count() still counts every thread the parent had started (as
    # of 3.13): none of them can call into a hub now, but the forking thread
    # itself, if it is one of them.
    census.idle_workers = _real_thread_count() - (_real_get_ident() != _main_os_ident)
    census.starting_workers = 0


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)

default_pool = ThreadPool()


class _Job:
    """What a green thread in :meth:`ThreadPool.run` waits on (as deadlock reports name it)."""
    __slots__ = ('fn',)

    def __init__(self, fn):
        self.fn = fn

    def __repr__(self):
        return f'to_thread({getattr(self.fn, "__qualname__", self.fn)!s})'


def to_thread(fn, /, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a real OS thread; park until it returns; return its result.

    Its exception, if any, is raised here.  Other green threads keep running.
    Called from a pool worker, ``fn`` runs right there (see :meth:`ThreadPool.run`).
    """
    try:
        return default_pool.run(fn, *args, **kwargs)
    except BaseException:
        del fn, args, kwargs      # the traceback keeps this frame too (see ThreadPool.run)
        raise
