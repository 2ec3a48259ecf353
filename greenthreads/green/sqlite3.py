"""A cooperative ``sqlite3``: a statement that meets a locked database parks only its caller.

Natively, a connection that finds the database locked by another connection
waits inside SQLite: its busy handler sleeps and retries in C for the
connection's ``timeout``.  Under green threads that sleep stops the only OS
thread, so the lock holder (usually another green thread of the same OS
thread) cannot finish, and every waiter fails with ``database is locked``
after blocking everyone for its whole timeout.

Here :func:`connect` returns connections whose SQLite busy timeout is 0, so
SQLite never sleeps in the hub; their class derives from the requested
factory.  Every statement first runs in the calling green thread: an
uncontended one costs what it costs natively plus a Python call.  A
statement refused with ``SQLITE_BUSY`` has had no effect (SQLite's busy
handler relies on that too), and is run again, as SQLite's busy handler
would, until the connection's timeout:

* Whether to wait at all is SQLite's decision: it refuses at once, without
  calling its busy handler, a connection that holds a read transaction and
  asks for a write lock (waiting could deadlock).  So the first rerun is
  made in a real OS thread with SQLite's busy handler on for up to 100 ms
  (the caller parks): SQLite waits and retries there as natively, and a
  refusal that comes back at once is raised at once.
* A statement still refused after waiting there was refused by the busy
  handler, so it may wait: it is rerun in the calling green thread at
  SQLite's own intervals (25 ms growing to 100 ms by then) until the
  timeout, sleeping green in between, so a real thread is held for 100 ms
  at most.  A file lock held by another connection, maybe of another
  process, offers nothing to wait on: SQLite polls it too.
* A commit (``commit()``, a ``COMMIT``/``END``/``RELEASE`` statement, and
  the ones ``with connection:`` and setting ``isolation_level`` or
  ``autocommit`` make) meets a lock only waiting for readers to leave, where
  SQLite always waits: it is retried in the green thread from the start.
  Above all it must not queue for a real thread that statements waiting
  for its own transaction's lock may all be holding.

The error, if any, is the native one after about the native time.  While a
connection waits, other green threads calling it wait for it, as natively
(SQLite holds the connection's mutex while its busy handler sleeps).

Some calls cannot be rerun after a partial run, so they wait in a real
thread with SQLite's busy handler on for the whole timeout:
``executescript`` on a file database (from the start), ``backup`` with a
file database on either side, ``PRAGMA wal_checkpoint``, and the rest of an
autocommit-mode ``executemany`` whose later row met a lock (the rows before
it stand; ``rowcount`` counts them with ``total_changes``, which also counts
changes made by triggers).  Callbacks (functions, aggregates, authorizer,
progress and trace handlers, ``backup``'s ``progress``, the rest of
``executemany``'s parameters) run in the real thread while a statement runs
there (a first rerun, or one of these).

``check_same_thread`` keeps its meaning for green threads: the connection is
opened with SQLite's own check off (the real thread must be able to use it),
and the check is made here against the green thread that opened it, with the
native message, on every Connection method that has it natively and on
``Cursor.execute*`` and ``close`` (not on fetching rows, which stays at
native speed).  ``PRAGMA busy_timeout`` reads or sets the connection's
timeout (a pragma is recognised at the start of a statement).  A cursor
class the connection cannot derive from (``cursor(factory)`` with a
function, or ``sqlite3.Cursor(con)`` made directly) and a connection factory
that is not a ``sqlite3.Connection`` subclass give the native, blocking
objects.
"""

import re
import sqlite3 as _std
import time
from itertools import chain

from greenlet import getcurrent

from .._originals import real_local as _real_local, real_allocate_lock as _real_allocate_lock
from .._park import sleep
from .._sync import Event
from .._threads import get_ident
from ..pool import ThreadPool

__all__ = ['connect', 'Connection', 'Cursor']

_monotonic = time.monotonic
_connect = _std.connect
_execute = _std.Cursor.execute
_executemany = _std.Cursor.executemany
_executescript = _std.Cursor.executescript
_cursor = _std.Connection.cursor
_commit = _std.Connection.commit
_backup = _std.Connection.backup
_native_rowcount = _std.Cursor.rowcount.__get__
_OperationalError = _std.OperationalError

SQLITE_BUSY = 5

if hasattr(_std, 'SQLITE_BUSY'):       # 3.11+: errors carry their result code
    def _is_busy(exc):
        return exc.sqlite_errorcode & 0xff == SQLITE_BUSY
else:
    def _is_busy(exc):
        return exc.args == ('database is locked',)    # sqlite3_errstr(SQLITE_BUSY)

# SQLite's default busy handler sleeps these ms in turn, then 100 ms at a time.
_DELAYS = (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100)
# The first rerun waits up to this long in a real thread, SQLite's first 8
# delays: most waits end within it.  A refusal that took half of it or more
# went through the busy handler; one without it takes microseconds.
_PROBE_MS = 100
_PROBE_DELAYS = 8

# Reruns hold a real thread for at most _PROBE_MS each (all but the calls
# that cannot be rerun): separate from the to_thread pool, which they would
# otherwise hold up.
_pool = ThreadPool(max_workers=32)
# Set in a real thread while it runs a statement for a connection, so that
# the callbacks of that statement may call the connection.
_acting = _real_local()
_holds_lock = _real_allocate_lock()

_THREAD_MESSAGE = ('SQLite objects created in a thread can only be used in that same thread. '
                   'The object was created in thread id {} and this is thread id {}.')
# The pragmas that involve the busy handler: one reads or sets its timeout,
# the other (FULL, RESTART, TRUNCATE) waits through it for other connections.
_busy_pragma = re.compile(r'\s*pragma\s+(?:\w+\s*\.\s*)?(busy_timeout|wal_checkpoint)\b',
                          re.I).match
# A statement that meets a lock only as a commit does.
_is_commit = re.compile(r'\s*(?:commit|end|release)\b', re.I).match
_MEMORY = (':memory:', '', b':memory:', b'')
_MAX_MS = 2 ** 31 - 1     # sqlite3_busy_timeout takes an int


def _call_kw(fn, args, kwargs):
    return fn(*args, **kwargs)


class _Wait:
    """A connection's wait for a lock; other callers of the connection park until it ends.

    ``glet`` is the waiting green thread (its own statements go through);
    ``holds`` counts who still use the connection for it: the waiting
    thread and a real thread running a statement, which may outlive the
    wait when the waiting thread is woken by an exception (Ctrl-C).
    """
    __slots__ = ('event', 'glet', 'holds')

    def __init__(self):
        self.event = Event()
        self.glet = getcurrent()
        self.holds = 1


class _Refused:
    """What a rerun in a real thread returns when SQLite still refuses, and how long that took."""
    __slots__ = ('error', 'seconds')

    def __init__(self, error, seconds):
        self.error = error
        self.seconds = seconds


def connect(*args, **kwargs):
    """``sqlite3.connect``, giving a connection whose statements wait for locks cooperatively.

    Arguments, defaults, errors and the meaning of ``timeout`` and
    ``check_same_thread`` are the native ones.  The connection's class is
    ``factory`` if it derives from :class:`Connection` already, else a
    subclass of ``factory`` and :class:`Connection` (with the factory's
    name), made once per factory; a factory that is not a
    ``sqlite3.Connection`` subclass is used as given, and its connections
    block as natively.
    """
    if len(args) > 5:
        args = args[:5] + (_green_class(args[5], Connection),) + args[6:]
    else:
        kwargs['factory'] = _green_class(kwargs.get('factory', _std.Connection), Connection)
    return _connect(*args, **kwargs)


_derived = {}


def _green_class(cls, green):
    """``cls`` with ``green`` (our Connection or Cursor) behind it in the MRO, or ``cls`` itself.

    ``green`` comes after ``cls``, so that ``cls``'s own overrides see one
    call, whatever happens underneath.
    """
    base = green.__mro__[1]
    if cls is base:
        return green
    if not (isinstance(cls, type) and issubclass(cls, base)) or issubclass(cls, green):
        return cls
    derived = _derived.get(cls)
    if derived is None:
        derived = _derived[cls] = type(cls.__name__, (cls, green), {
            '__module__': cls.__module__, '__qualname__': cls.__qualname__,
            '__doc__': cls.__doc__})
    return derived


class Connection(_std.Connection):
    """A ``sqlite3.Connection`` whose statements never sleep in C (see the module docstring)."""

    # Class-level defaults: what a connection whose __init__ stopped half way acts on.
    _gt_glet = None         # the opening green thread's greenlet, if check_same_thread
    _gt_owner = None        # and its ident
    _gt_busy = None         # the _Wait under way, if any
    _gt_timeout = 0         # its busy timeout in ms (SQLite's own is kept at 0)
    _gt_memory = True       # an in-memory (or private temporary) database: never locked

    def __init__(self, *args, **kwargs):
        n = len(args)
        check = args[4] if n > 4 else kwargs.get('check_same_thread', True)
        if check.__class__ is not bool and check.__class__ is not int:
            try:
                check = check.__index__()
            except (AttributeError, TypeError):
                super().__init__(*args, **kwargs)   # sqlite3 rejects it, with its own message
                return
        timeout = args[1] if n > 1 else kwargs.get('timeout', 5.0)
        ms = None
        if (timeout.__class__ is float or timeout.__class__ is int) and -1e9 < timeout < 1e9:
            ms = max(0, int(timeout * 1000))    # as sqlite3 computes it
            timeout = 0
        # SQLite's own thread check would stop the real thread that reruns
        # a statement; the check is made here instead.
        if n > 4:
            args = args[:1] + (timeout,) + args[2:4] + (False,) + args[5:]
        elif n > 1:
            args = args[:1] + (timeout,) + args[2:]
            kwargs['check_same_thread'] = False
        else:
            kwargs['timeout'] = timeout
            kwargs['check_same_thread'] = False
        super().__init__(*args, **kwargs)
        if check:
            self._gt_glet = getcurrent()
            self._gt_owner = get_ident()
        database = args[0] if args else kwargs.get('database')
        uri = args[7] if n > 7 else kwargs.get('uri', False)
        self._gt_memory = (isinstance(database, (str, bytes)) and database in _MEMORY or
                           uri and isinstance(database, str) and
                           (database.startswith('file::memory:') or 'mode=memory' in database))
        if ms is None:
            # An unusual timeout (a Decimal, say): take what sqlite3 made of it.
            raw = _std.Cursor(self)
            ms = raw.execute('PRAGMA busy_timeout').fetchone()[0]
            raw.execute('PRAGMA busy_timeout = 0')
            raw.close()
        self._gt_timeout = min(ms, _MAX_MS)

    # ---------------------------------------------------------------- guard
    def _gt_enter(self):
        """The slow path of every guarded call: maybe another thread, maybe a wait under way.

        Raises the native ProgrammingError for a thread other than the
        opener (with check_same_thread); parks while another thread's
        statement waits for a lock on this connection.
        """
        if getattr(_acting, 'conn', None) is self:
            return      # a callback of the statement a real thread runs for us
        wait = self._gt_busy
        if wait is not None and wait.glet is getcurrent():
            return      # the waiting thread's own statement (a statement cache miss)
        owner = self._gt_owner
        if owner is not None and self._gt_glet is not getcurrent():
            me = get_ident()
            if me != owner:
                raise _std.ProgrammingError(_THREAD_MESSAGE.format(owner, me))
        while wait is not None:
            wait.event.wait()
            wait = self._gt_busy

    # --------------------------------------------------------------- waiting
    def _gt_begin(self):
        wait = self._gt_busy = _Wait()
        return wait

    def _gt_end(self, wait, waiter=False):
        """Drop one hold on ``wait`` (from any thread); the last one lets the others in.

        ``waiter``: the waiting green thread's hold.  Once it is dropped that
        thread, too, parks until a real thread still running a statement
        for the wait is done.
        """
        if waiter:
            wait.glet = None
        with _holds_lock:
            wait.holds -= 1
            last = not wait.holds
        if last:
            if self._gt_busy is wait:
                self._gt_busy = None
            wait.event.set()

    def _gt_in_real_thread(self, wait, call, args, ms, probe=False, adopt=False):
        """``call(*args)`` in a real thread with SQLite's busy timeout at ``ms``.

        ``probe``: a refusal with SQLITE_BUSY comes back as a
        :class:`_Refused`.  ``adopt``: a ``PRAGMA busy_timeout`` the call
        runs becomes the connection's timeout.
        """
        with _holds_lock:
            wait.holds += 1
        return _pool.run(self._gt_job, wait, call, args, ms, probe, adopt)

    def _gt_job(self, wait, call, args, ms, probe, adopt):
        # Runs in the real thread.
        _acting.conn = self
        raw = _std.Cursor(self)
        try:
            raw.execute(f'PRAGMA busy_timeout = {ms}')
            start = _monotonic()
            try:
                return call(*args)
            except _OperationalError as exc:
                if probe and _is_busy(exc):
                    return _Refused(exc, _monotonic() - start)
                raise
            finally:
                if adopt:
                    self._gt_timeout = raw.execute('PRAGMA busy_timeout').fetchone()[0]
                raw.execute('PRAGMA busy_timeout = 0')
        finally:
            raw.close()
            _acting.conn = None
            self._gt_end(wait)

    def _gt_retry(self, call, args):
        """Rerun ``call(*args)``, just refused with SQLITE_BUSY, as SQLite's busy handler would.

        First in a real thread for up to _PROBE_MS, under SQLite's own busy
        handler; then, if SQLite's busy handler was waiting there, in this
        green thread until the timeout (see the module docstring).  Returns
        what the call returns; raises the refusal SQLite ends with, or the
        call's other errors.  Callers check first that there is a timeout.
        """
        wait = self._gt_begin()
        try:
            deadline = _monotonic() + self._gt_timeout / 1000
            ms = min(self._gt_timeout, _PROBE_MS)
            result = self._gt_in_real_thread(wait, call, args, ms, probe=True)
            if result.__class__ is not _Refused:
                return result
            if result.seconds * 1000 < ms / 2 or ms == self._gt_timeout:
                raise result.error      # refused without waiting, or waited the whole timeout
            return self._gt_poll(call, args, result.error, deadline, _PROBE_DELAYS)
        finally:
            self._gt_end(wait, waiter=True)

    def _gt_commit_retry(self, call, args, error):
        """Retry a commit refused with SQLITE_BUSY ``error`` in this green thread until the timeout."""
        wait = self._gt_begin()
        try:
            return self._gt_poll(call, args, error, _monotonic() + self._gt_timeout / 1000, 0)
        finally:
            self._gt_end(wait, waiter=True)

    def _gt_poll(self, call, args, error, deadline, count):
        """Sleep SQLite's ``count``-th busy delay and on, rerunning ``call(*args)`` after each, until ``deadline``."""
        while True:
            left = deadline - _monotonic()
            if left <= 0:
                raise error
            sleep(min(_DELAYS[min(count, len(_DELAYS) - 1)] / 1000, left))
            count += 1
            try:
                return call(*args)
            except _OperationalError as exc:
                if not _is_busy(exc):
                    raise
                error = exc

    def _gt_blocking(self, call, args, adopt=False):
        """Run ``call(*args)``, which cannot be rerun, in a real thread under SQLite's busy handler."""
        wait = self._gt_begin()
        try:
            return self._gt_in_real_thread(wait, call, args, self._gt_timeout, adopt=adopt)
        finally:
            self._gt_end(wait, waiter=True)

    def _gt_pragma(self, call, args):
        """Run ``call(*args)``, which may read or set ``busy_timeout``, with the connection's own.

        Only for statements that cannot wait for a lock: SQLite's busy
        handler is on while it runs.
        """
        raw = _std.Cursor(self)
        try:
            raw.execute(f'PRAGMA busy_timeout = {self._gt_timeout}')
            try:
                return call(*args)
            finally:
                self._gt_timeout = raw.execute('PRAGMA busy_timeout').fetchone()[0]
                raw.execute('PRAGMA busy_timeout = 0')
        finally:
            raw.close()

    def _gt_autocommitting(self):
        """True if each statement commits on its own (no transaction is open or will be opened)."""
        if self.in_transaction:
            return False
        autocommit = getattr(self, 'autocommit', -1)    # 3.12+; -1 is LEGACY_TRANSACTION_CONTROL
        if autocommit is True or autocommit is False:
            return autocommit
        return self.isolation_level is None

    # -------------------------------------------------------------- methods
    def cursor(self, factory=_std.Cursor):
        """As ``sqlite3.Connection.cursor``; a Cursor subclass is derived from as by :func:`connect`."""
        glet = self._gt_glet
        if glet is not None and glet is not getcurrent() or self._gt_busy is not None:
            self._gt_enter()
        return _cursor(self, _green_class(factory, Cursor))

    def commit(self):
        """As ``sqlite3.Connection.commit``; waits for readers to leave without blocking other threads."""
        glet = self._gt_glet
        if glet is not None and glet is not getcurrent() or self._gt_busy is not None:
            self._gt_enter()
        try:
            return _commit(self)
        except _OperationalError as exc:
            if not self._gt_timeout or not _is_busy(exc):
                raise
            error = exc
        return self._gt_commit_retry(_commit, (self,), error)

    def execute(self, sql, parameters=(), /):
        """As ``sqlite3.Connection.execute``: a new cursor's ``execute``."""
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, parameters, /):
        """As ``sqlite3.Connection.executemany``: a new cursor's ``executemany``."""
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script, /):
        """As ``sqlite3.Connection.executescript``: a new cursor's ``executescript``."""
        return self.cursor().executescript(sql_script)

    def __exit__(self, exc_type, exc_value, traceback, /):
        """Commit (through :meth:`commit`, which may wait for locks) or roll back, as natively.

        A failed commit is followed by a rollback; the commit's error is
        raised, or the rollback's (with the commit's as its context).
        """
        if exc_type is None and exc_value is None and traceback is None:
            try:
                self.commit()
            except BaseException:
                self.rollback()
                raise
        else:
            self.rollback()
        return False

    # Setting these may commit (``isolation_level = None``, ``autocommit =
    # True``): that commit goes through :meth:`commit` first, to wait for
    # locks as natively; sqlite3 then finds nothing left to commit.
    _native_isolation_level = _std.Connection.isolation_level

    @property
    def isolation_level(self):
        """As ``sqlite3.Connection.isolation_level``."""
        return Connection._native_isolation_level.__get__(self)

    @isolation_level.setter
    def isolation_level(self, value):
        if value is None and self.in_transaction and getattr(self, 'autocommit', -1) == -1:
            self.commit()
        Connection._native_isolation_level.__set__(self, value)

    if hasattr(_std.Connection, 'autocommit'):      # 3.12+
        _native_autocommit = _std.Connection.autocommit

        @property
        def autocommit(self):
            """As ``sqlite3.Connection.autocommit``."""
            return Connection._native_autocommit.__get__(self)

        @autocommit.setter
        def autocommit(self, value):
            if value is True and self.in_transaction:
                self.commit()
            Connection._native_autocommit.__set__(self, value)

    def backup(self, target, *args, **kwargs):
        """As ``sqlite3.Connection.backup``; with a file database on either side, in a real thread."""
        glet = self._gt_glet
        if glet is not None and glet is not getcurrent() or self._gt_busy is not None:
            self._gt_enter()
        if self._gt_memory and getattr(target, '_gt_memory', False):
            return _backup(self, target, *args, **kwargs)
        return self._gt_blocking(_call_kw, (_backup, (self, target) + args, kwargs))


def _guarded(name, retry):
    """Give Connection ``name`` with the thread check (and, if ``retry``, the busy retry)."""
    native = getattr(_std.Connection, name)

    if retry:
        def method(self, *args, **kwargs):
            glet = self._gt_glet
            if glet is not None and glet is not getcurrent() or self._gt_busy is not None:
                self._gt_enter()
            try:
                return native(self, *args, **kwargs)
            except _OperationalError as exc:
                if not self._gt_timeout or not _is_busy(exc):
                    raise
            return self._gt_retry(_call_kw, (native, (self,) + args, kwargs))
    else:
        def method(self, *args, **kwargs):
            glet = self._gt_glet
            if glet is not None and glet is not getcurrent() or self._gt_busy is not None:
                self._gt_enter()
            return native(self, *args, **kwargs)
    method.__name__ = name
    method.__qualname__ = f'Connection.{name}'
    method.__doc__ = native.__doc__
    setattr(Connection, name, method)


for _name in ('rollback', 'blobopen', 'serialize', 'deserialize'):
    if hasattr(_std.Connection, _name):
        _guarded(_name, True)
for _name in ('close', '__call__', 'create_function', 'create_aggregate', 'create_collation',
              'create_window_function', 'set_authorizer', 'set_progress_handler',
              'set_trace_callback', 'enable_load_extension', 'load_extension', 'getlimit',
              'setlimit'):
    if hasattr(_std.Connection, _name):
        _guarded(_name, False)


class Cursor(_std.Cursor):
    """A ``sqlite3.Cursor`` whose statements wait for locks cooperatively (see the module docstring)."""

    _gt_rows = 0     # rows an executemany committed before the rest was rerun in a real thread

    @property
    def rowcount(self):
        """As ``sqlite3.Cursor.rowcount`` (counting every row of a resumed ``executemany``)."""
        n = _native_rowcount(self)
        return n + self._gt_rows if n >= 0 and self._gt_rows else n

    def execute(self, sql, parameters=(), /):
        """As ``sqlite3.Cursor.execute``; waits for a locked database without blocking other threads."""
        conn = self.connection
        glet = conn._gt_glet
        if glet is not None and glet is not getcurrent() or conn._gt_busy is not None:
            conn._gt_enter()
        if self._gt_rows:
            self._gt_rows = 0
        if sql.__class__ is str and ('ragma' in sql or 'RAGMA' in sql):
            pragma = _busy_pragma(sql)
            if pragma is not None:
                if pragma.group(1).lower() == 'busy_timeout':
                    return conn._gt_pragma(_execute, (self, sql, parameters))
                if conn._gt_timeout and not conn._gt_memory:
                    return conn._gt_blocking(_execute, (self, sql, parameters))
        try:
            return _execute(self, sql, parameters)
        except _OperationalError as exc:
            if not conn._gt_timeout or not _is_busy(exc):
                raise
            error = exc
        # Outside the except clause: the rerun's error has no context, as natively.
        if sql.__class__ is str and _is_commit(sql):
            return conn._gt_commit_retry(_execute, (self, sql, parameters), error)
        return conn._gt_retry(_execute, (self, sql, parameters))

    def executemany(self, sql, seq_of_parameters, /):
        """As ``sqlite3.Cursor.executemany``; waits for a locked database without blocking other threads."""
        conn = self.connection
        glet = conn._gt_glet
        if glet is not None and glet is not getcurrent() or conn._gt_busy is not None:
            conn._gt_enter()
        if self._gt_rows:
            self._gt_rows = 0
        if not conn._gt_timeout or conn._gt_memory:
            return _executemany(self, sql, seq_of_parameters)
        rows = iter(seq_of_parameters)
        every = conn._gt_autocommitting()
        if every:
            before = conn.total_changes
            seen = [0, None]
            tracked = _every_row(rows, seen)
        else:
            # In a transaction only the first row takes a lock (the rest run
            # under it), so a refusal comes before or at the first row.
            seen = []
            tracked = _first_row(rows, seen)
        try:
            return _executemany(self, sql, tracked)
        except _OperationalError as exc:
            if not _is_busy(exc):
                raise
            error = exc
        if not every:
            if tracked.gi_yieldfrom is not None:
                raise error     # refused after the first row: cannot happen (see above), never rerun
            return conn._gt_retry(_rerun_many, (self, sql, seen, rows))
        # Each row commits on its own: those before the refused one stand,
        # and the rest may stop at any row, so it cannot be rerun either.
        count, last = seen
        done = conn.total_changes - before if count > 1 else 0
        result = conn._gt_blocking(_executemany, (self, sql, chain((last,), rows) if count else rows))
        self._gt_rows = done
        return result

    def executescript(self, sql_script, /):
        """As ``sqlite3.Cursor.executescript``; on a file database with a timeout, in a real thread."""
        conn = self.connection
        glet = conn._gt_glet
        if glet is not None and glet is not getcurrent() or conn._gt_busy is not None:
            conn._gt_enter()
        if self._gt_rows:
            self._gt_rows = 0
        if conn._gt_timeout and not conn._gt_memory:
            # A script refused half way has run its first statements and
            # cannot be rerun: it waits as natively, from the start.
            return conn._gt_blocking(_executescript, (self, sql_script), adopt=True)
        if sql_script.__class__ is str and ('ragma' in sql_script or 'RAGMA' in sql_script):
            # Not a file database with a timeout: nothing in it can wait for a lock.
            return conn._gt_pragma(_executescript, (self, sql_script))
        return _executescript(self, sql_script)


def _rerun_many(cursor, sql, seen, rows):
    # An attempt refused has taken at most the first row: that one again
    # (kept in ``seen`` by whichever attempt took it), then the rest.
    if seen:
        return _executemany(cursor, sql, chain(seen, rows))
    return _executemany(cursor, sql, _first_row(rows, seen))


def _every_row(rows, seen):
    """Yield ``rows``, keeping in ``seen`` ([0, None]) how many were taken and the last one."""
    for row in rows:
        seen[0] += 1
        seen[1] = row
        yield row


def _first_row(rows, seen):
    """Yield ``rows``, keeping the first one in ``seen``; the rest go through at C speed."""
    for row in rows:
        seen.append(row)
        yield row
        break
    yield from rows


def _guarded_cursor(name):
    """Give Cursor ``name`` with the thread check (fetching rows has none: it stays at native speed)."""
    native = getattr(_std.Cursor, name)

    def method(self, *args, **kwargs):
        conn = self.connection
        glet = conn._gt_glet
        if glet is not None and glet is not getcurrent() or conn._gt_busy is not None:
            conn._gt_enter()
        return native(self, *args, **kwargs)
    method.__name__ = name
    method.__qualname__ = f'Cursor.{name}'
    method.__doc__ = native.__doc__
    setattr(Cursor, name, method)


_guarded_cursor('close')
del _name
