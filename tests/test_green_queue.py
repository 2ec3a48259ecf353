"""The cooperative queue.SimpleQueue, and the stdlib queues on green threads."""

import queue as std_queue
import threading as std_threading
import time

import pytest

import greenthreads
from greenthreads.green.queue import SimpleQueue
from conftest import run_script, spawn, error_of as _err


def test_fifo_and_nowait():
    q = SimpleQueue()
    for i in range(5):
        q.put(i)
    assert q.qsize() == 5 and not q.empty()
    assert [q.get() for _ in range(4)] + [q.get_nowait()] == list(range(5))
    assert q.empty()
    with pytest.raises(std_queue.Empty):
        q.get_nowait()


def test_get_parks_until_put_and_hands_over_in_order():
    q = SimpleQueue()
    got = []
    threads = [spawn(lambda i=i: got.append((i, q.get()))) for i in range(3)]
    greenthreads.sleep(0)
    for item in 'abc':
        q.put(item)
    for t in threads:
        t.join()
    assert got == [(0, 'a'), (1, 'b'), (2, 'c')]


def test_get_timeout_raises_empty():
    q = SimpleQueue()
    t0 = time.monotonic()
    with pytest.raises(std_queue.Empty):
        q.get(timeout=0.05)
    assert time.monotonic() - t0 >= 0.04


@pytest.mark.parametrize('args', [(True, -1), (False, -1), (True, 'x')])
def test_get_argument_errors_match_stdlib(args):
    ours = _err(SimpleQueue().get, *args)
    theirs = _err(std_queue.SimpleQueue().get, *args)
    assert ours == theirs


def test_put_from_a_real_os_thread_wakes_a_green_getter():
    q = SimpleQueue()
    t = std_threading.Thread(target=lambda: (time.sleep(0.05), q.put('from os thread')))
    t.start()
    assert q.get(timeout=10) == 'from os thread'
    t.join()


def test_generic_alias():
    assert SimpleQueue[int] is not None


def test_stdlib_pools_queues_logging_urllib_under_patch_all():
    proc = run_script('''
import greenthreads.monkey
greenthreads.monkey.patch_all()
import concurrent.futures, queue, logging, io, threading, time, urllib.request, http.server
# concurrent.futures: 50 tasks of 0.1 s on 50 green workers
t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(50) as ex:
    results = list(ex.map(lambda i: (time.sleep(0.1), i * i)[1], range(50)))
pool_ok = results == [i * i for i in range(50)] and time.monotonic() - t0 < 2
natives = {t.native_id for t in threading.enumerate()}
# queue.Queue: still the stdlib class, on green primitives
q = queue.Queue(maxsize=2)
out = []
def producer():
    for i in range(100):
        q.put(i)
    q.put(None)
def consumer():
    while (item := q.get()) is not None:
        out.append(item)
        q.task_done()
    q.task_done()
ts = [threading.Thread(target=producer), threading.Thread(target=consumer)]
for t in ts: t.start()
q.join()
for t in ts: t.join()
queue_ok = out == list(range(100)) and type(q).__module__ == 'queue' and hasattr(q, 'not_empty')
# logging from many green threads
stream = io.StringIO()
logging.basicConfig(stream=stream, level=logging.INFO, format='%(threadName)s %(message)s')
ts = [threading.Thread(target=logging.info, args=('hello %d', i), name='w%d' % i) for i in range(20)]
for t in ts: t.start()
for t in ts: t.join()
log_ok = sorted(stream.getvalue().split('\\n'))[1:] == sorted('w%d hello %d' % (i, i) for i in range(20))
# urllib.request against a ThreadingHTTPServer in the same process
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
url = 'http://127.0.0.1:%d/' % srv.server_address[1]
bodies = []
ts = [threading.Thread(target=lambda: bodies.append(urllib.request.urlopen(url, timeout=10).read()))
      for _ in range(20)]
for t in ts: t.start()
for t in ts: t.join()
srv.shutdown()
print(pool_ok, queue_ok, log_ok, bodies == [b'ok'] * 20, len(natives))
''', timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['True', 'True', 'True', 'True', '1']
