"""Cooperative ``multiprocessing`` locks: waiting for one parks only the calling green thread.

multiprocessing's ``Lock``, ``RLock``, ``Semaphore`` and ``BoundedSemaphore``
(and so its ``Condition``, ``Event``, ``Barrier``, ``Queue`` and ``Pool``) are
POSIX semaphores shared between processes.  Their C ``acquire`` waits in
``sem_wait``, which would stop every green thread of the OS thread: a
``Pool`` whose shutdown waits for a worker process to give up the task
queue's lock, while the green thread that would tell it to is stuck behind
that wait, never finishes.  There is no file descriptor to poll for a
semaphore, so a wait that cannot be satisfied at once goes to a real OS
thread (:func:`cooperative_methods`):

* Taking a free unit is the plain C call, in the caller's OS thread.
* Otherwise a real thread waits in the C call, with the caller's timeout,
  and hands the unit it got over to the parked caller, who takes it over in
  its own OS thread: the C lock records that thread as the holder, as
  ``Condition.wait`` and the reprs expect (``_is_mine()``, ``_count()``).
  The take-over gives the unit back and takes it at once without waiting; a
  process that grabs it in between got it fairly, and the caller waits again.
* A wait that ends early (Ctrl-C or another exception thrown into the parked
  caller) gives back exactly what it took: a unit the real thread acquires
  after its caller left is released again at once.

The real threads come from a pool of their own, without a bound: such a
wait may last for ever, and in the default pool (ten threads) a few of them
would starve name resolution and every other ``to_thread`` call, or
deadlock a program whose lock holder needs one.  Idle waiter threads are
reused, so a wait costs a hand-over, not a thread start.

``RLock`` (the recursive kind, also ``Condition``'s default lock): the C
lock's owner is an OS thread, which all green threads of that thread share,
so a *gate* (a green lock, per multiprocessing RLock and process) keeps the
other green threads of the process out while one holds it: an RLock
excludes other green threads, threads and processes alike, and only its
holder may release it.  What remains of the OS-thread view: the C lock's
own ``_is_mine()`` (the reprs, ``Condition``'s asserts) is true in every
green thread of the holder's OS thread.  Its blocking waits go through a
second C handle on the same semaphore, of the plain semaphore kind (an
RLock acquired by the waiting thread could be released only by it).

Also here for the monkey patch: :func:`connection_methods` (pipes of a
``multiprocessing.connection`` imported before patching read and write
cooperatively too) and :func:`when_imported` (multiprocessing is patched as
it is imported, so that patching does not import it).
"""

import operator
import os
import sys
import time
import types
import _thread

from _multiprocessing import SemLock as _SemLock   # ImportError without sem_open

from .._originals import real_allocate_lock as _real_allocate_lock, os_read as _real_read, \
    os_write as _real_write
from .._compat import SEMLOCK_BLOCK_ANY_OBJECT
from .._locks import Lock as _GreenLock
from .._park import Waiter, park
from .._threads import get_ident
from ..pool import ThreadPool, _worker
from .os import read as _green_read, write as _green_write

__all__ = ['cooperative_methods', 'connection_methods', 'SEMLOCK_METHODS', 'when_imported']

_SEMAPHORE = 1          # multiprocessing.synchronize.SEMAPHORE
_RECURSIVE_MUTEX = 0    # multiprocessing.synchronize.RECURSIVE_MUTEX
_monotonic = time.monotonic
_getpid = os.getpid
_TIMEOUT_MAX = _thread.TIMEOUT_MAX

#: Real threads for waits that may never end (see the module docstring).
_waiters_pool = ThreadPool(max_workers=sys.maxsize)


def _blocking_arg(block):
    """``block`` as the C ``acquire`` reads it: an integer before 3.12, any truth value since.

    Raises what the C call raises for a value it rejects.
    """
    return bool(block) if SEMLOCK_BLOCK_ANY_OBJECT else bool(operator.index(block))


def _seconds(timeout):
    """A timeout (not None) as the float the C ``acquire`` reads, raising its TypeError."""
    kind = type(timeout)
    if kind is float:
        return timeout
    if not (hasattr(kind, '__float__') or hasattr(kind, '__index__')):
        raise TypeError(f'must be real number, not {kind.__name__}')
    return float(timeout)


class _Handoff:
    """One blocking C acquire run by a real thread, and whether its caller still wants it.

    ``lock`` (a real lock, held for a few steps) orders the end of the wait
    against the caller leaving: whichever comes second gives the unit back.
    """
    __slots__ = ('lock', 'done', 'got', 'abandoned')

    def __init__(self):
        self.lock = _real_allocate_lock()
        self.done = self.got = self.abandoned = False


def _wait_in_real_thread(sem, timeout, handoff, keep_alive):
    # Runs in a waiter thread.  ``keep_alive`` holds the C object that owns
    # ``sem``'s handle, if it is not ``sem`` itself, until the wait is over.
    got = False
    try:
        got = sem.acquire(True, timeout)
    finally:
        with handoff.lock:
            handoff.done = True
            handoff.got = got
            if handoff.abandoned and got:
                sem.release()
    return got


def _offload(sem, timeout, reason, keep_alive=None):
    """Park until ``sem.acquire(True, timeout)``, run in a real thread, returns; return its result.

    True means the caller now holds the unit the real thread took (and must
    take it over or give it back).  An exception thrown into the parked
    caller propagates after making sure that unit is, or will be, given back.
    """
    if getattr(_worker, 'pool', None) is not None:
        return sem.acquire(True, timeout)   # already a real thread: may block
    handoff = _Handoff()
    waiter = Waiter(reason)
    hub = waiter.hub
    hub.outside_refs += 1
    try:
        _waiters_pool.submit(_wait_in_real_thread, (sem, timeout, handoff, keep_alive), {},
                             waiter)
        park(waiter)
        ok, value = waiter.value
    except BaseException:
        with handoff.lock:
            give_back = handoff.got
            handoff.abandoned = True
        if give_back:
            sem.release()
        raise
    finally:
        hub.outside_refs -= 1
    if not ok:
        raise value
    return value


def _acquire_slowly(sem, timeout, reason, waitee=None, keep_alive=None):
    """Wait (parking) for a unit of C lock ``sem`` after a failed try; True once taken.

    ``waitee`` is the C handle a real thread waits on (``sem`` by default).
    Its unit is taken over as ``sem``'s in the caller's OS thread: given
    back, then taken again without waiting.
    """
    if waitee is None:
        waitee = sem
    deadline = None if timeout is None else _monotonic() + timeout
    while True:
        if not _offload(waitee, timeout, reason, keep_alive):
            return False
        waitee.release()
        if sem.acquire(False):
            return True
        # Another process took it in that instant: it had the right to.
        if deadline is not None:
            timeout = deadline - _monotonic()
            if timeout <= 0:
                return False


class _SemaphoreMethods:
    """``acquire`` for a multiprocessing Lock, Semaphore or BoundedSemaphore (the C SEMAPHORE kind).

    Such a unit belongs to nobody in particular (any thread may release it),
    so the real thread's unit can be handed to the caller as it is.
    """
    __slots__ = ('sem',)

    def __init__(self, sem):
        self.sem = sem

    def __repr__(self):
        return f'<multiprocessing semaphore {self.sem.handle:#x}>'

    def acquire(self, block=True, timeout=None):
        """Acquire a unit: True, or False if ``block`` is false or ``timeout`` seconds pass first.

        Arguments as ``multiprocessing.synchronize.SemLock.acquire``: a
        timeout of None waits for ever, a negative one does not wait.  Only
        the calling green thread waits.
        """
        if block is not True and block is not False:
            block = _blocking_arg(block)
        return self._acquire_sem(block, timeout)

    def _acquire_sem(self, block, timeout):
        # One try without waiting, then (if asked to) the wait.
        sem = self.sem
        if sem.acquire(False, timeout):     # also checks ``timeout`` as the C call does
            return True
        if not block:
            return False
        if timeout is not None:
            timeout = _seconds(timeout)
            if timeout <= 0:
                return False
        return self._wait_for_sem(timeout)

    def _wait_for_sem(self, timeout):
        return _acquire_slowly(self.sem, timeout, self)


class _RecursiveMutexMethods(_SemaphoreMethods):
    """``acquire`` and ``release`` for a multiprocessing RLock (the C RECURSIVE_MUTEX kind).

    Invariant: a green thread of this process holds ``gate`` exactly while
    it holds the lock (``owner``); the C lock counts its recursion.  The
    gate is the process's own: a fork forgets holders that did not survive
    it (as CPython's after-fork reset of the C count does for OS threads).
    """
    __slots__ = ('gate', 'owner', 'pid', 'twin')

    def __init__(self, sem):
        super().__init__(sem)
        self.gate = _GreenLock()
        self.owner = None
        self.pid = _getpid()
        self.twin = None

    def __repr__(self):
        return f'<multiprocessing recursive lock {self.sem.handle:#x}>'

    def acquire(self, block=True, timeout=None):
        """Acquire the lock, or raise its recursion level if the calling green thread holds it.

        True on success, False if ``block`` is false or ``timeout`` seconds
        pass first; arguments as ``SemLock.acquire``.
        """
        if block is not True and block is not False:
            block = _blocking_arg(block)
        if self.pid != _getpid():
            self._forget_parent()
        me = get_ident()
        if self.owner == me:
            return self._acquire_sem(block, timeout)
        gate = self.gate
        if not gate.acquire(False):
            # Another green thread of this process holds the lock.
            if not block:
                return False
            if timeout is None:
                gate.acquire()
            else:
                timeout = _seconds(timeout)
                deadline = _monotonic() + timeout
                if not (timeout > 0 and gate.acquire(True, min(timeout, _TIMEOUT_MAX))):
                    return False
                # What is left is for the semaphore (if nothing: one try).
                timeout = max(deadline - _monotonic(), 0.0)
        got = False
        try:
            got = self._acquire_sem(block, timeout)
        finally:
            if got:
                self.owner = me
            else:
                gate.release()
        return got

    def _wait_for_sem(self, timeout):
        # The real thread waits on a plain-semaphore twin: a recursive
        # mutex taken there would be that thread's.
        sem = self.sem
        twin = self.twin
        if twin is None:
            twin = self.twin = _plain_twin(sem)
        return _acquire_slowly(sem, timeout, self, twin, sem)

    def release(self):
        """Release one level of the lock; the last one lets the next waiter in.

        AssertionError, as for the C lock, if the calling green thread does
        not hold it.
        """
        if self.pid != _getpid():
            self._forget_parent()
        if self.owner != get_ident():
            raise AssertionError('attempt to release recursive lock not owned by thread')
        sem = self.sem
        sem.release()
        if not sem._count():
            self.owner = None
            self.gate.release()

    def _forget_parent(self):
        # First use in a forked child.  Only the forking green thread lives
        # on; a hold by any other is void, in the C count too.
        self.pid = _getpid()
        self.gate = _GreenLock()
        if self.owner is not None:
            if self.owner == _forker_ident:
                self.gate.acquire()
            else:
                self.owner = None
                self.sem._after_fork()


def _plain_twin(sem):
    """A C handle of the plain semaphore kind on the same semaphore as ``sem``.

    A named semaphore is opened again: a handle of its own.  An unlinked one
    (the fork context's) can only share ``sem``'s handle, which each C
    object closes when it is freed; the twin is then kept for ever (a few
    dozen bytes per RLock that ever had to wait), so that nothing closes
    the handle twice.
    """
    name = sem.name
    if name is not None:
        try:
            return _SemLock._rebuild(sem.handle, _SEMAPHORE, 1, name)
        except OSError:
            pass        # unlinked meanwhile
    twin = _SemLock._rebuild(sem.handle, _SEMAPHORE, 1, None)
    _immortal_twins.append(twin)
    return twin


_immortal_twins = []

#: The ident of the green thread that last called fork() in this process's ancestry.
_forker_ident = None


def _before_fork():
    global _forker_ident
    _forker_ident = get_ident()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(before=_before_fork)


def cooperative_methods(semlock):
    """``(acquire, release)`` for the wrapper of C lock ``semlock``, waiting cooperatively."""
    if semlock.kind == _RECURSIVE_MUTEX:
        methods = _RecursiveMutexMethods(semlock)
        return methods.acquire, methods.release
    return _SemaphoreMethods(semlock).acquire, semlock.release


# What the monkey patch puts on multiprocessing.synchronize.SemLock (the
# Python wrapper of every multiprocessing lock).  ``_make_methods`` runs when
# a lock is made and when one arrives pickled in another process.
def _make_methods(self):
    """Give this lock its ``acquire`` and ``release``: waiting ones park only the caller."""
    self.acquire, self.release = cooperative_methods(self._semlock)


def _enter(self):
    """``with lock:`` acquires through the cooperative ``acquire``."""
    return self.acquire()


def _exit(self, *args):
    """The end of a ``with lock:`` block releases the lock."""
    return self.release()


#: SemLock attribute -> cooperative replacement.
SEMLOCK_METHODS = {'_make_methods': _make_methods, '__enter__': _enter, '__exit__': _exit}


def connection_methods(connection_class):
    """``{name: replacement}`` for the ``Connection`` methods doing their pipe I/O with the real os calls.

    ``Connection._recv``/``_send`` took ``os.read``/``os.write`` as default
    arguments when ``multiprocessing.connection`` was imported: before the
    patch, the blocking ones.  Each replacement is the same code with the
    green function as its default.  Empty where there is nothing to change.
    """
    replacements = {}
    for name, real, green in (('_recv', _real_read, _green_read), ('_send', _real_write, _green_write)):
        func = connection_class.__dict__.get(name)
        if not isinstance(func, types.FunctionType) or not func.__defaults__ \
                or func.__defaults__[-1] is not real:
            continue
        new = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                                 func.__defaults__[:-1] + (green,), func.__closure__)
        new.__qualname__ = func.__qualname__
        new.__doc__ = func.__doc__
        new.__kwdefaults__ = func.__kwdefaults__
        new.__dict__.update(func.__dict__)
        replacements[name] = new
    return replacements


# ------------------------------------------------------------ import hook
class _AfterImport:
    """A ``sys.meta_path`` finder that calls back right after a watched module is first executed.

    It finds nothing itself: it asks the finders after it, and wraps the
    loader of the spec they return for just the one execution.
    """

    def __init__(self):
        self.callbacks = {}     # module name -> [callback(module)]

    def find_spec(self, name, path=None, target=None):
        if name not in self.callbacks:
            return None
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, 'find_spec', None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        if spec is not None and hasattr(spec.loader, 'exec_module'):
            spec.loader = _CallingBackLoader(spec.loader, self, name)
        return spec

    def executed(self, name, module):
        callbacks = self.callbacks.pop(name, [])
        if not self.callbacks and self in sys.meta_path:
            sys.meta_path.remove(self)
        for callback in callbacks:
            callback(module)


class _CallingBackLoader:
    """Runs the real loader, puts it back where importlib keeps it, then calls back."""

    def __init__(self, loader, finder, name):
        self.loader = loader
        self.finder = finder
        self.name = name

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        # Nobody should meet this wrapper after the import (reload, inspect).
        module.__loader__ = self.loader
        if getattr(module, '__spec__', None) is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.finder.executed(self.name, module)

    def __getattr__(self, name):
        return getattr(self.loader, name)


_after_import = _AfterImport()
_hook_lock = _real_allocate_lock()


def when_imported(name, callback):
    """Call ``callback(module)`` for module ``name``: now if it is imported, else right after its import.

    A module that fails to import gets no call (a later import may).
    """
    with _hook_lock:
        module = sys.modules.get(name)
        if module is None:
            _after_import.callbacks.setdefault(name, []).append(callback)
            if _after_import not in sys.meta_path:
                sys.meta_path.insert(0, _after_import)
            return
    callback(module)
