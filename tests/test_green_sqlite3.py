"""green/sqlite3: sqlite3 under the patch waits for locks as natively, without blocking the hub.

Most tests run one program twice, natively (real threads) and under
``python -m greenthreads``, and compare the output: each program prints only
what must be the same (rows, errors, elapsed times in coarse buckets).
"""

import os
import re
import textwrap

import pytest

from conftest import ROOT, run_script
from greenthreads.green import sqlite3 as green_sqlite3

pytestmark = pytest.mark.timeout(60)

# ``python -m greenthreads -c PROGRAM args``, through run_script.
LAUNCH = 'import sys\nfrom greenthreads.__main__ import main\nsys.exit(main(sys.argv[1:]))\n'

PRELUDE = '''
import atexit, os, shutil, sqlite3, sys, tempfile, threading, time
directory = tempfile.mkdtemp()
atexit.register(shutil.rmtree, directory, True)
path = os.path.join(directory, 'test.db')
def bucket(seconds, expected=0):
    """An elapsed time, coarsely: what native and patched runs agree on.

    SQLite's busy handler polls at growing intervals (100 ms apart after
    the first 0.3 s), so a wait ends up to one interval after the lock goes.
    """
    if seconds < 0.15 and not expected:
        return 'at once'
    if expected - 0.1 <= seconds <= expected + 0.4:
        return f'after about {expected} s'
    return f'after {seconds:.2f} s'
def error(exc):
    return f'{type(exc).__name__}: {exc}'
def hold(seconds):
    """Hold the write lock in a thread for ``seconds``; return once it is held."""
    holding = threading.Event()
    def holder():
        c = sqlite3.connect(path, isolation_level=None)
        c.execute('begin immediate')
        holding.set()
        time.sleep(seconds)
        c.execute('commit')
        c.close()
    t = threading.Thread(target=holder)
    t.start()
    holding.wait()
    return t
'''


def run_both(program, *args, timeout=30):
    """Run ``program`` natively and under ``python -m greenthreads``; return both outputs."""
    code = PRELUDE + textwrap.dedent(program)
    native = run_script(code, *args, timeout=timeout)
    assert native.returncode == 0, native.stderr
    patched = run_script(LAUNCH, '-c', code, *args, timeout=timeout)
    assert patched.returncode == 0, patched.stderr
    return native.stdout, patched.stdout


def assert_same(program, *args, timeout=30):
    native, patched = run_both(program, *args, timeout=timeout)
    assert patched == native
    return native


@pytest.mark.parametrize('journal', ['delete', 'wal'])
def test_eight_writers_share_one_file_with_the_default_timeout(journal):
    # Each writer sleeps inside its transaction, so the others meet the lock:
    # under green threads too, since the sleep lets them run.
    out = assert_same('''
    journal = sys.argv[1]
    con = sqlite3.connect(path)
    con.execute(f'pragma journal_mode = {journal}')
    con.execute('create table t (writer, i)')
    con.commit()
    errors = []
    def writer(w):
        con = sqlite3.connect(path, isolation_level=None if w % 2 else 'DEFERRED')
        try:
            for i in range(25):
                if w % 2:
                    con.execute('begin immediate')
                    con.execute('insert into t values (?, ?)', (w, i))
                    time.sleep(0.001)
                    con.execute('commit')
                else:
                    with con:
                        con.execute('insert into t values (?, ?)', (w, i))
                        time.sleep(0.001)
        except Exception as exc:
            errors.append(error(exc))
        con.close()
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(errors)
    print(con.execute('select writer, count(*), sum(i) from t group by writer').fetchall())
    ''', journal)
    assert out.splitlines() == ['[]', str([(w, 25, 300) for w in range(8)])]


def test_a_hundred_writers_more_than_the_real_threads():
    # More writers wait than there are real threads for first reruns; the
    # holder's commit must not queue behind them (native output: the same).
    proc = run_script(LAUNCH, '-c', PRELUDE + textwrap.dedent('''
    con = sqlite3.connect(path)
    con.execute('create table t (writer, i)')
    con.commit()
    errors = []
    def writer(w):
        c = sqlite3.connect(path, timeout=30)    # the point is not the timeout
        try:
            for i in range(2):
                with c:
                    c.execute('insert into t values (?, ?)', (w, i))
                    time.sleep(0.001)
        except Exception as exc:
            errors.append(error(exc))
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(100)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(errors, con.execute('select count(*), count(distinct writer) from t').fetchone())
    '''), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ['[] (200, 100)']


def test_a_writer_gives_up_after_its_timeout_while_others_run():
    out = assert_same('''
    con = sqlite3.connect(path)
    con.execute('create table t (x)')
    con.commit()
    holding = threading.Event()
    def holder():
        c = sqlite3.connect(path, isolation_level=None)
        c.execute('begin immediate')
        c.execute('insert into t values (1)')
        holding.set()
        time.sleep(1.0)
        c.execute('commit')
    ticks = []
    def ticker():
        for _ in range(20):
            time.sleep(0.02)
            ticks.append(time.monotonic())
    h = threading.Thread(target=holder); h.start()
    holding.wait()
    waiter = sqlite3.connect(path, timeout=0.4)
    for timeout in (0.4, 0):
        if timeout == 0:
            waiter = sqlite3.connect(path, timeout=0)
        t = threading.Thread(target=ticker); t.start()
        start = time.monotonic()
        try:
            waiter.execute('insert into t values (2)')
        except sqlite3.OperationalError as exc:
            print(f'timeout={timeout}:', error(exc), bucket(time.monotonic() - start, timeout),
                  getattr(exc, 'sqlite_errorname', 'SQLITE_BUSY'))
        print('other threads ran meanwhile:', len([x for x in ticks if x < start + timeout]) > timeout * 20)
        print('in transaction:', waiter.in_transaction)
        waiter.rollback()
        t.join()
        ticks.clear()
    h.join()
    waiter.execute('insert into t values (3)')
    waiter.commit()
    print(con.execute('select x from t order by x').fetchall())
    ''')
    assert out.splitlines() == [
        'timeout=0.4: OperationalError: database is locked after about 0.4 s SQLITE_BUSY',
        'other threads ran meanwhile: True', 'in transaction: True',
        'timeout=0: OperationalError: database is locked at once SQLITE_BUSY',
        'other threads ran meanwhile: False', 'in transaction: True',
        '[(1,), (3,)]']


def test_busy_where_sqlite_would_deadlock_fails_at_once_and_commit_waits_for_readers():
    # A connection holding a read transaction that asks for the write lock
    # another holds is refused at once, whatever its timeout: waiting could
    # deadlock.  A COMMIT waiting for readers to leave does wait.
    out = assert_same('''
    setup = sqlite3.connect(path)
    setup.execute('create table t (x)')
    setup.execute('insert into t values (0)')
    setup.commit()
    reader = sqlite3.connect(path, isolation_level=None, timeout=5, check_same_thread=False)
    writer = sqlite3.connect(path, isolation_level=None, timeout=5)
    reader.execute('begin')
    reader.execute('select * from t').fetchall()        # a read transaction: SHARED
    writer.execute('begin immediate')                    # RESERVED
    writer.execute('insert into t values (1)')
    start = time.monotonic()
    try:
        reader.execute('insert into t values (2)')
    except sqlite3.OperationalError as exc:
        print('reader upgrading:', error(exc), bucket(time.monotonic() - start))
    def end_read():
        time.sleep(0.3)
        reader.execute('rollback')
    t = threading.Thread(target=end_read)
    t.start()
    start = time.monotonic()
    writer.execute('commit')             # waits for the reader's SHARED lock to go
    print('commit waited for the reader:', bucket(time.monotonic() - start, 0.3))
    t.join()
    print(setup.execute('select x from t order by x').fetchall())
    ''')
    assert out.splitlines() == [
        'reader upgrading: OperationalError: database is locked at once',
        'commit waited for the reader: after about 0.3 s', '[(0,), (1,)]']



def test_executemany_and_executescript_wait_and_count_like_native():
    out = assert_same('''
    con = sqlite3.connect(path)
    con.executescript('create table t (x); create table u (x);')
    # In a transaction (the implicit BEGIN): the first row meets the lock.
    h = hold(0.3)
    start = time.monotonic()
    cur = con.executemany('insert into t values (?)', ((i,) for i in range(10)))
    con.commit()
    print('executemany in a transaction:', cur.rowcount, bucket(time.monotonic() - start, 0.3))
    h.join()
    # Autocommit: each row commits alone, and the lock is taken between two
    # rows (the generator lets the holder run), so the sixth row meets it.
    auto = sqlite3.connect(path, isolation_level=None)
    holders = []
    def rows():
        for i in range(10):
            if i == 5:
                holders.append(hold(0.3))
            yield (i,)
    start = time.monotonic()
    cur = auto.cursor()
    cur.executemany('update t set x = x + 100 where x = ?', rows())
    print('executemany row by row:', cur.rowcount, bucket(time.monotonic() - start, 0.3))
    holders[0].join()
    cur.execute('select 1')
    print('rowcount of the next statement:', cur.rowcount)
    h = hold(0.3)
    start = time.monotonic()
    con.executescript('insert into u values (1); insert into u values (2); update u set x = x * 10;')
    print('executescript:', bucket(time.monotonic() - start, 0.3), con.in_transaction)
    h.join()
    print(con.execute('select x from t order by x').fetchall(), con.execute('select x from u').fetchall())
    ''')
    assert out.splitlines() == [
        'executemany in a transaction: 10 after about 0.3 s',
        'executemany row by row: 10 after about 0.3 s',
        'rowcount of the next statement: -1',
        'executescript: after about 0.3 s False',
        str([(i,) for i in range(100, 110)]) + ' [(10,), (20,)]']


def test_commits_of_with_blocks_and_of_isolation_level_none():
    out = assert_same('''
    con = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    con.execute('create table t (x)')
    reader = sqlite3.connect(path, isolation_level=None)
    con.execute('begin')
    con.execute('insert into t values (1)')          # RESERVED
    reader.execute('begin')
    reader.execute('select * from t').fetchall()     # SHARED: the commit waits for it
    start = time.monotonic()
    try:
        with con:
            con.execute('insert into t values (2)')
    except sqlite3.OperationalError as exc:
        print('commit:', error(exc), bucket(time.monotonic() - start, 0.2), con.in_transaction)
    reader.execute('rollback')
    print(con.execute('select count(*) from t').fetchone())
    # Leaving legacy transaction control commits: that commit waits too.
    legacy = sqlite3.connect(path, timeout=5)
    legacy.execute('insert into t values (3)')
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute('begin')
    reader.execute('select * from t').fetchall()
    def end_read():
        time.sleep(0.3)
        reader.execute('rollback')
    t = threading.Thread(target=end_read); t.start()
    start = time.monotonic()
    legacy.isolation_level = None
    print('isolation_level = None:', bucket(time.monotonic() - start, 0.3), legacy.in_transaction)
    t.join()
    print(con.execute('select count(*) from t').fetchone())
    ''')
    assert out.splitlines() == [
        'commit: OperationalError: database is locked after about 0.2 s False', '(0,)',
        'isolation_level = None: after about 0.3 s False', '(1,)']


def test_memory_databases_and_check_same_thread_as_native():
    out = assert_same('''
    import re
    con = sqlite3.connect(':memory:')
    con.execute('create table t (x)')
    con.executemany('insert into t values (?)', [(1,), (2,)])
    shared = sqlite3.connect('file:mem1?mode=memory&cache=shared', uri=True)
    shared.execute('create table s (x)')
    shared.commit()
    other = sqlite3.connect('file:mem1?mode=memory&cache=shared', uri=True)
    print(con.execute('select sum(x) from t').fetchone(), other.execute('select * from s').fetchall())
    free = sqlite3.connect(':memory:', check_same_thread=False)
    free.execute('create table t (x)')
    cur = con.cursor()
    results = []
    def elsewhere():
        for name, call in [('execute', lambda: con.execute('select 1')),
                           ('cursor', con.cursor), ('commit', con.commit),
                           ('cursor.execute', lambda: cur.execute('select 1')),
                           ('create_function', lambda: con.create_function('f', 0, int)),
                           ('close', con.close),
                           ('check_same_thread=False', lambda: free.execute('insert into t values (1)'))]:
            try:
                call()
                results.append(f'{name}: ok')
            except Exception as exc:
                results.append(f'{name}: ' + re.sub(r'\\d+', 'N', error(exc)))
    t = threading.Thread(target=elsewhere); t.start(); t.join()
    print('\\n'.join(results))
    print(free.execute('select count(*) from t').fetchone(), con.execute('select count(*) from t').fetchone())
    ''')
    wrong = ('ProgrammingError: SQLite objects created in a thread can only be used in that same '
             'thread. The object was created in thread id N and this is thread id N.')
    assert out.splitlines() == [
        '(3,) []', f'execute: {wrong}', f'cursor: {wrong}', f'commit: {wrong}',
        f'cursor.execute: {wrong}', f'create_function: {wrong}', f'close: {wrong}',
        'check_same_thread=False: ok', '(1,) (2,)']


def test_user_factories_are_still_used_and_wait():
    out = assert_same('''
    class MyCursor(sqlite3.Cursor):
        def execute(self, sql, parameters=()):
            self.seen = sql
            return super().execute(sql, parameters)
    class MyConnection(sqlite3.Connection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.made_by = 'MyConnection'
        def cursor(self, factory=MyCursor):
            return super().cursor(factory)
    con = sqlite3.connect(path, factory=MyConnection)
    print(type(con).__name__, isinstance(con, MyConnection), isinstance(con, sqlite3.Connection), con.made_by)
    con.execute('create table t (x)')
    h = hold(0.3)
    start = time.monotonic()
    cur = con.cursor()
    cur.execute('insert into t values (1)')
    con.commit()
    print(type(cur).__name__, isinstance(cur, MyCursor), cur.seen, bucket(time.monotonic() - start, 0.3))
    h.join()
    positional = sqlite3.connect(path, 5.0, 0, 'DEFERRED', True, MyConnection)
    print(type(positional).__name__, positional.execute('select count(*) from t').fetchone())
    h = hold(0.3)
    start = time.monotonic()
    c2 = positional.cursor(sqlite3.Cursor)
    c2.execute('insert into t values (2)')
    positional.commit()
    print(type(c2).__name__, bucket(time.monotonic() - start, 0.3))
    h.join()
    ''')
    assert out.splitlines() == [
        'MyConnection True True MyConnection', 'MyCursor True insert into t values (1) after about 0.3 s',
        'MyConnection (1,)', 'Cursor after about 0.3 s']


def test_busy_timeout_pragma_reads_and_sets_the_timeout():
    out = assert_same('''
    con = sqlite3.connect(path, timeout=3)
    con.execute('create table t (x)')
    con.commit()
    print(con.execute('PRAGMA busy_timeout').fetchone(),
          con.execute('pragma main.BUSY_TIMEOUT = 200').fetchone(),
          con.execute('  pragma busy_timeout').fetchone())
    h = hold(0.8)
    start = time.monotonic()
    try:
        con.execute('insert into t values (1)')
    except sqlite3.OperationalError as exc:
        print(error(exc), bucket(time.monotonic() - start, 0.2))
    h.join()
    # A FULL checkpoint waits (through the busy handler) for the writer to finish.
    con.rollback()
    con.execute('pragma busy_timeout = 3000')
    con.execute('pragma journal_mode = wal')
    con.execute('insert into t values (1)')
    con.commit()
    h = hold(0.3)
    start = time.monotonic()
    busy, log, done = con.execute('pragma wal_checkpoint(FULL)').fetchone()
    print('checkpoint:', busy, log == done, bucket(time.monotonic() - start, 0.3))
    h.join()
    ''')
    assert out.splitlines() == ['(3000,) (200,) (200,)',
                                'OperationalError: database is locked after about 0.2 s',
                                'checkpoint: 0 True after about 0.3 s']


def test_another_process_holding_the_lock():
    # The holder is a native python in its own process; the writer waits for
    # it while this process's other threads keep running.
    out = assert_same('''
    import subprocess
    con = sqlite3.connect(path)
    con.execute('create table t (x)')
    con.commit()
    holder = subprocess.Popen([sys.executable, '-c', '\\n'.join([
        'import sqlite3, time',
        f'c = sqlite3.connect({path!r}, isolation_level=None)',
        'c.execute("begin immediate")',
        'c.execute("insert into t values (1)")',
        'print("held", flush=True)',
        'time.sleep(0.5)',
        'c.execute("commit")'])], stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    ticks = []
    def ticker():
        for _ in range(20):
            time.sleep(0.02)
            ticks.append(1)
    t = threading.Thread(target=ticker); t.start()
    start = time.monotonic()
    con.execute('insert into t values (2)')
    con.commit()
    print('waited', bucket(time.monotonic() - start, 0.5), 'others ran:', len(ticks) >= 10)
    t.join()
    holder.wait()
    print(con.execute('select x from t order by x').fetchall())
    ''')
    assert out.splitlines() == ['waited after about 0.5 s others ran: True', '[(1,), (2,)]']


def test_uncontended_statements_stay_in_the_calling_thread(tmp_path, monkeypatch):
    # In process, through the module itself (no patch needed).
    hops = []
    monkeypatch.setattr(green_sqlite3._pool, 'run', lambda *a: hops.append(a))
    con = green_sqlite3.connect(str(tmp_path / 'db'))
    con.execute('create table t (x)')
    with con:
        con.executemany('insert into t values (?)', [(1,), (2,)])
        con.execute('insert into t values (3)')
    cur = con.cursor()
    assert cur.execute('select sum(x) from t').fetchone() == (6,)
    assert isinstance(con, green_sqlite3.Connection) and isinstance(cur, green_sqlite3.Cursor)
    con.close()
    assert hops == []


def test_c_library_example_runs():
    proc = run_script(LAUNCH, os.path.join(ROOT, 'examples', 'c_library_to_thread.py'), timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 4
    ticks = [int(re.search(r'ran +(\d+) times', line).group(1)) for line in lines]
    # Called directly the C call blocks every thread; through to_thread the ticker runs.
    assert ticks[0] == 0 and ticks[2] == 0 and ticks[1] >= 10 and ticks[3] >= 10, lines
