"""monkey: patch_thread() (stdlib threading, _thread and time.sleep made green),
the other patchers, and patch_all's switches.

Each test runs in a fresh interpreter, since patching is process-wide.
"""

import json

import pytest

from conftest import run_script, run_under_patch_thread

run = run_under_patch_thread


def test_public_names_are_green_and_originals_kept():
    proc = run('''
import greenthreads._threads as gt
out = {
    'Thread': threading.Thread is greenthreads.Thread,
    'Lock': type(threading.Lock()) is greenthreads.Lock,
    'allocate_lock': type(_thread.allocate_lock()) is greenthreads.Lock,
    'RLock': type(threading.RLock()) is greenthreads.RLock,
    'Event': threading.Event is greenthreads.Event,
    'local': threading.local is greenthreads.local and _thread._local is greenthreads.local,
    'get_ident': threading.get_ident is greenthreads.get_ident and _thread.get_ident is greenthreads.get_ident,
    'sleep_green': time.sleep is not monkey.get_original('time', 'sleep'),
    'original_sleep_real': monkey.get_original(time, 'sleep').__module__ == 'time',
    'is_patched': [monkey.is_patched('threading'), monkey.is_patched(_thread, 'start_new_thread'),
                   monkey.is_patched('time', 'time')],
    'main': threading.main_thread() is threading.current_thread(),
    'main_ident': threading.main_thread().ident == monkey.get_original('_thread', 'get_ident')(),
}
print(json.dumps(out))
''')
    out = json.loads(proc.stdout)
    assert out.pop('is_patched') == [True, True, False]
    assert all(out.values()), out


def test_patching_twice_changes_nothing():
    proc = run('''
before = (threading.Lock, _thread.start_new_thread, time.sleep)
monkey.patch_thread()
print(before == (threading.Lock, _thread.start_new_thread, time.sleep),
      monkey.get_original('time', 'sleep') is not time.sleep)
''')
    assert proc.stdout.split() == ['True', 'True']


def test_green_sleep_validates_like_time_sleep():
    proc = run('''
real = monkey.get_original('time', 'sleep')
def err(fn, a):
    try:
        fn(a)
    except Exception as e:
        return type(e).__name__ + ': ' + str(e)
from decimal import Decimal
from fractions import Fraction
class Index:
    def __index__(self):
        return 0
bad = (-1, -1e-9, float('nan'), float('inf'), float('-inf'), 2**64, 1e300, 'x', None,
       Decimal('0.001'), Fraction(1, 1000))
print(json.dumps([[err(time.sleep, a), err(real, a)] for a in bad]))
time.sleep(Index()); time.sleep(True - 1); time.sleep(0.001); time.sleep(-0.0)
try:
    time.sleep(secs=0)
except TypeError:
    pass
else:
    raise AssertionError('time.sleep takes no keyword arguments')
''')
    for ours, theirs in json.loads(proc.stdout.splitlines()[0]):
        assert ours == theirs and ours is not None


def test_stdlib_thread_subclass_defined_before_patching_runs_green():
    # A class made from the real threading.Thread before patching goes through
    # threading's private _thread copies (_start_new_thread/_set_sentinel on
    # 3.10-3.12, _start_joinable_thread/_ThreadHandle on 3.13).
    proc = run_script('''
import threading, time
class Early(threading.Thread):
    def run(self):
        time.sleep(0.05)
        self.native = threading.get_native_id()
        self.me = threading.current_thread() is self
import greenthreads.monkey
greenthreads.monkey.patch_thread()
ts = [Early() for _ in range(20)]
t0 = time.monotonic()
for t in ts:
    t.start()
assert all(t.is_alive() for t in ts)
for t in ts:
    t.join()
print(time.monotonic() - t0 < 2, {t.native for t in ts} == {threading.get_native_id()},
      all(t.me for t in ts), any(t.is_alive() for t in ts))
late = Early()
late.start()          # not joined: threading's own shutdown must wait for it
''')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['True', 'True', 'True', 'False']


def test_non_daemon_threads_finish_at_exit_under_patch():
    proc = run('''
def worker(i):
    time.sleep(0.05)
    print('done', i, flush=True)
for i in range(3):
    threading.Thread(target=worker, args=(i,)).start()
''')
    assert sorted(proc.stdout.splitlines()) == ['done 0', 'done 1', 'done 2']


def test_thread_start_goes_through_a_replaced_threading_starter():
    # Debuggers (pydevd) wrap threading's private starter to follow new threads.
    proc = run('''
name = '_start_joinable_thread' if sys.version_info >= (3, 13) else '_start_new_thread'
original = getattr(threading, name)
seen = []
def wrapping(function, *args, **kwargs):
    seen.append(function.__self__.name)
    return original(lambda: function(), *args, **kwargs)
setattr(threading, name, wrapping)
out = []
t = threading.Thread(target=lambda: out.append(threading.current_thread().name), name='w1')
t.start()
print(t.ident is not None and t.ident == t.ident, threading.get_native_id() == t.native_id)
t.join()
print(out, seen, t.is_alive(), threading.active_count())
def failing(*args, **kwargs):
    raise threading.ThreadError('no more threads')
setattr(threading, name, failing)
t = threading.Thread(target=print)
try:
    t.start()
except RuntimeError as exc:
    print(exc, t.is_alive(), t.ident)
''')
    assert proc.stdout.splitlines() == [
        'True True', "['w1'] ['w1'] False 1", 'no more threads False None']


def test_replaced_threading_excepthook_is_honoured():
    proc = run('''
seen = []
threading.excepthook = lambda args: seen.append(args.exc_type.__name__)
t = threading.Thread(target=lambda: 1 / 0)
t.start(); t.join()
print(seen)
''')
    assert proc.stdout.strip() == "['ZeroDivisionError']"


def test_logging_lock_made_before_patching_does_not_block_the_hub():
    # logging's module lock and handler locks exist before the patch; a
    # handler whose emit blocks (green sleep) while holding its lock must
    # only park the other loggers, never the hub.
    proc = run_script('''
import logging, io
stream = io.StringIO()
handler = logging.StreamHandler(stream)
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)
import greenthreads.monkey
greenthreads.monkey.patch_thread()
import threading, time
class SlowHandler(logging.Handler):
    def emit(self, record):
        time.sleep(0.001)
logging.getLogger().addHandler(SlowHandler())
def worker(i):
    for j in range(5):
        logging.info('w%d %d', i, j)
        time.sleep(0)
ts = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
for t in ts: t.start()
for t in ts: t.join()
print(len(stream.getvalue().splitlines()), type(logging._lock).__name__, type(handler.lock).__name__)
''', timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['100', 'RLock', 'RLock']
    assert 'greenthreads' in run_script('''
import logging, greenthreads.monkey
greenthreads.monkey.patch_thread()
print(type(logging._lock).__module__)
''').stdout


def test_deadlock_detection_under_patch():
    proc = run_script('''
import greenthreads.monkey
greenthreads.monkey.patch_thread()
import threading, time
a, b = threading.Lock(), threading.Lock()
def one():
    with a:
        time.sleep(0.01)
        with b:
            pass
def two():
    with b:
        time.sleep(0.01)
        with a:
            pass
t1 = threading.Thread(target=one, name='one'); t2 = threading.Thread(target=two, name='two')
t1.start(); t2.start(); t1.join()
''', timeout=60)
    assert proc.returncode == 1
    assert 'DeadlockError' in proc.stderr
    assert '<Thread(one, started' in proc.stderr and '<Thread(two, started' in proc.stderr


def test_patch_socket_makes_stdlib_clients_cooperative():
    # Unmodified stdlib client code (http.client) from 50 green threads
    # against a server of green threads, all in one OS thread.
    proc = run('''
monkey.patch_socket()
import socket, http.client
srv = socket.create_server(('127.0.0.1', 0))
port = srv.getsockname()[1]
def handle(conn):
    with conn, conn.makefile('rb') as rf:
        while True:
            line = rf.readline()
            if not line:
                return
            if line == b'\\r\\n':
                time.sleep(0.05)              # a slow backend: parks this thread only
                conn.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok')
def serve():
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
bodies = []
def client():
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    for _ in range(3):
        c.request('GET', '/')
        bodies.append(c.getresponse().read())
    c.close()
t0 = time.monotonic()
ts = [threading.Thread(target=client) for _ in range(50)]
for t in ts: t.start()
for t in ts: t.join()
print(len(bodies), set(bodies), time.monotonic() - t0 < 5, type(socket.socket()).__module__)
''')
    assert proc.stdout.split() == ['150', "{b'ok'}", 'True', 'greenthreads.green.socket']


def test_fork_under_patch_all():
    proc = run('''
monkey.patch_all()
import os
lock = threading.Lock()
lock.acquire()
parent = os.getpid()
def parked():
    with lock:
        print('parked ran in', 'parent' if os.getpid() == parent else 'child', flush=True)
t = threading.Thread(target=parked)
t.start()
time.sleep(0.01)
pid = os.fork()
if pid == 0:
    lock.release()
    c = threading.Thread(target=lambda: (time.sleep(0.05), print('child thread done', flush=True)))
    c.start()                # not joined: the child's exit waits for it
    print('child', [x.name for x in threading.enumerate()][0],
          threading.main_thread() is threading.current_thread(), flush=True)
else:
    _, status = os.waitpid(pid, 0)
    print('child exit', os.waitstatus_to_exitcode(status), flush=True)
    lock.release()
    t.join()
''')
    assert proc.stdout.splitlines() == ['child MainThread True', 'child thread done',
                                        'child exit 0', 'parked ran in parent']
    assert proc.stderr == ''


def test_patching_late_warns_about_names_copied_before():
    code = '''
from time import sleep
from socket import socket as sock
import warnings, greenthreads.monkey
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    greenthreads.monkey.patch_all()
    greenthreads.monkey.patch_all()       # says it once
print(len(caught), caught[0].category.__name__ if caught else None)
print(caught[0].message if caught else '')
import functools, reprlib, threading
print(functools.RLock is threading.RLock, reprlib.get_ident is threading.get_ident)
'''
    proc = run_script(code)
    assert proc.returncode == 0, proc.stderr
    count, message, stdlib = proc.stdout.splitlines()
    assert count == '1 MonkeyPatchWarning'
    assert '__main__.sleep (the original time.sleep)' in message
    assert '__main__.sock (the original socket.socket)' in message
    assert stdlib == 'True True'     # stdlib copies made at startup are patched, not warned about


def test_patching_first_warns_about_nothing(tmp_path):
    import os, subprocess, sys
    from conftest import ROOT
    script = tmp_path / 'prog.py'
    script.write_text('from time import sleep\nimport socket, threading\nprint(sleep.__module__)\n')
    proc = subprocess.run([sys.executable, '-W', 'error', '-m', 'greenthreads', str(script)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == 'greenthreads._park\n' and proc.stderr == ''   # the green sleep


def test_replaced_starter_that_starts_a_real_os_thread_and_trace_hooks():
    proc = run('''
new = sys.version_info >= (3, 13)
name = '_start_joinable_thread' if new else '_start_new_thread'
real = monkey.get_original('_thread', 'start_joinable_thread' if new else 'start_new_thread')
def starter(function, *args, **kwargs):
    # A tool that captured the real starter before patching: a real OS thread.
    return real(function, daemon=kwargs.get('daemon', True)) if new else real(function, *args)
setattr(threading, name, starter)
calls = []
def tracer(frame, event, arg):
    if event == 'call':
        calls.append(frame.f_code.co_name)
threading.settrace(tracer)
def target():
    calls.append(threading.current_thread().name)
t = threading.Thread(target=target, name='w1')
t.start()
t.join()
threading.settrace(None)
print('target' in calls, 'w1' in calls, t.is_alive(), _thread._count())
''')
    assert proc.stdout.split() == ['True', 'True', 'False', '0']


def test_patch_select_alone_makes_selectors_cooperative():
    proc = run_script('''
import greenthreads.monkey
greenthreads.monkey.patch_select()
import selectors
from greenthreads.green import select as green
print(selectors.DefaultSelector.__name__, selectors.EpollSelector._selector_cls is green.epoll,
      selectors.PollSelector._selector_cls is green.poll, hasattr(selectors, 'KqueueSelector'))
''')
    assert proc.stdout.split() == ['EpollSelector', 'True', 'True', 'False'], proc.stderr


# ------------------------------------------------------ patch_all switches
#: patch_all keyword -> the modules it governs (with the classes they define).
#: Every keyword of patch_all must have a row: test_every_patch_all_keyword_...
#: fails for one that has none.
KEYWORD_MODULES = {
    'thread': ['_thread', 'threading', '_threading_local', 'logging', 'functools', 'reprlib',
               'asyncio.base_futures', 'concurrent.futures.thread'],
    'time': ['time'],
    'socket': ['socket'],
    'select': ['select', 'selectors'],
    'queue': ['queue'],
    'subprocess': ['subprocess'],
    'ssl': ['ssl'],
    'os': ['os'],
    'signal': ['signal'],
    'sqlite3': ['sqlite3', 'sqlite3.dbapi2'],
    'multiprocessing': ['multiprocessing.synchronize', 'multiprocessing.connection'],
}

# Snapshots are taken before greenthreads is imported, so what importing it
# does to a module counts too.  Values are compared with ``is``; the
# snapshots keep them alive, so no id can be reused in between.
SWITCH_CHILD = '''
import importlib, json, signal, sys
table = json.loads(sys.argv[1])
kwargs = json.loads(sys.argv[2])
real_getsignal = signal.getsignal
MISSING = object()

def snapshot(modnames):
    snap = {}
    for modname in modnames:
        module = importlib.import_module(modname)
        for name, value in list(vars(module).items()):
            snap[f'{modname}.{name}'] = value
            if isinstance(value, type) and value.__module__ == modname:
                for attr, member in list(vars(value).items()):
                    snap[f'{modname}.{name}.{attr}'] = member
        if modname == 'signal':
            for signum in signal.valid_signals():
                snap[f'handler of {signum}'] = real_getsignal(signum)
    return snap

before = {kw: snapshot(mods) for kw, mods in table.items()}
import greenthreads.monkey
greenthreads.monkey.patch_all(**kwargs)
changed = {}
for kw, mods in table.items():
    old, new = before[kw], snapshot(mods)
    changed[kw] = sorted(key for key in old.keys() | new.keys()
                         if old.get(key, MISSING) is not new.get(key, MISSING))
print(json.dumps(changed))
'''


def _patch_all_keywords():
    import inspect
    import greenthreads.monkey     # importing patches nothing
    return list(inspect.signature(greenthreads.monkey.patch_all).parameters)


def _changed_by_patch_all(**kwargs):
    proc = run_script(SWITCH_CHILD, json.dumps(KEYWORD_MODULES), json.dumps(kwargs))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_switch_table_names_exactly_the_patch_all_keywords():
    assert sorted(KEYWORD_MODULES) == sorted(_patch_all_keywords())


@pytest.mark.parametrize('keyword', _patch_all_keywords())
def test_every_patch_all_keyword_false_leaves_its_modules_as_they_were(keyword):
    assert keyword in KEYWORD_MODULES, f'patch_all({keyword}=...) has no row in KEYWORD_MODULES'
    changed = _changed_by_patch_all(**{keyword: False})
    assert changed.pop(keyword) == []
    # Every other switch still patches.
    assert [kw for kw, names in changed.items() if not names] == []


def test_patch_all_defaults_patch_every_keywords_modules():
    changed = _changed_by_patch_all()
    assert [kw for kw, names in changed.items() if not names] == []
    assert changed['time'] == ['time.sleep']
    assert 'selectors.PollSelector._selector_cls' in changed['select']
    assert changed['ssl'] == ['ssl.SSLContext.sslsocket_class']


def test_patch_all_time_false_keeps_real_sleep_and_green_threads_work():
    proc = run_script('''
import time
real_sleep = time.sleep
import greenthreads.monkey
greenthreads.monkey.patch_all(time=False)
import threading, queue, socket, greenthreads
print(time.sleep is real_sleep, greenthreads.monkey.is_patched('time'))
q = queue.Queue()
def worker(i):
    threading.Event().wait(0.1)           # a hub timer, not time.sleep
    greenthreads.sleep(0.01)
    q.put((i, threading.get_native_id()))
t0 = time.monotonic()
ts = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
for t in ts: t.start()
for t in ts: t.join()
timer = threading.Timer(0.01, q.put, ((-1, threading.get_native_id()),))
timer.start(); timer.join()
got = [q.get(timeout=1) for _ in range(51)]
a, b = socket.socketpair()
threading.Timer(0.05, b.sendall, (b'hi',)).start()
print(len({i for i, _ in got}), {n for _, n in got} == {threading.get_native_id()},
      time.monotonic() - t0 < 2, a.recv(2))
''')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ['True False', "51 True True b'hi'"]


def test_patchers_alone_patch_only_their_own_modules():
    # patch_thread() brings patch_time() (documented: polling with a real
    # sleep would never let another green thread run), and patch_select()
    # brings patch_selectors(), as patch_all's select= does.
    proc = run_script('''
import json, select, selectors, time, threading, socket
modules = (select, selectors, time, threading, socket)
import greenthreads.monkey as monkey
def state(m):   # the module's names and those of the classes it defines
    names = dict(vars(m))
    names.update({(k, a): v for k, c in vars(m).items() if isinstance(c, type)
                  and c.__module__ == m.__name__ for a, v in vars(c).items()})
    return names
out = {}
for patcher in ('patch_select', 'patch_socket', 'patch_thread', 'patch_time', 'patch_selectors'):
    before = [state(m) for m in modules]
    getattr(monkey, patcher)()
    out[patcher] = [m.__name__ for m, old in zip(modules, before) if state(m).keys() != old.keys()
                    or any(state(m)[k] is not v for k, v in old.items())]
print(json.dumps(out))
''')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        'patch_select': ['select', 'selectors'], 'patch_socket': ['socket'],
        'patch_thread': ['time', 'threading'],
        'patch_time': [], 'patch_selectors': []}       # already applied: idempotent
