"""os.read / os.write / os.waitpid under patch_all."""

from conftest import run_script, same_as_native


def test_pipe_read_write_and_waitpid_park_only_the_caller():
    proc = run_script('''
import greenthreads.monkey
greenthreads.monkey.patch_all()
import os, threading, time, subprocess, tempfile
r, w = os.pipe()
got, ticks = [], []
reader = threading.Thread(target=lambda: got.append(os.read(r, 10)))
ticker = threading.Thread(target=lambda: [ticks.append(time.sleep(0.01)) for _ in range(5)])
reader.start(); ticker.start()
time.sleep(0.03)
os.write(w, b'hello')
reader.join(); ticker.join()
# A full pipe: the writer parks until a reader drains it.
big = b'x' * (1 << 20)
chunks = []
def drain():
    n = 0
    while n < len(big):
        data = os.read(r, 65536)
        chunks.append(data)
        n += len(data)
d = threading.Thread(target=drain); d.start()
written = 0
while written < len(big):
    written += os.write(w, big[written:])
d.join()
with tempfile.TemporaryFile() as f:            # regular files: plain calls
    os.write(f.fileno(), b'file data')
    os.lseek(f.fileno(), 0, 0)
    file_ok = os.read(f.fileno(), 100) == b'file data'
p = subprocess.Popen(['sleep', '0.2'])
sleepers = []
s = threading.Thread(target=lambda: [sleepers.append(time.sleep(0.02)) for _ in range(5)])
s.start()
pid, status = os.waitpid(p.pid, 0)
s.join()
print(got == [b'hello'], len(ticks), b''.join(chunks) == big, file_ok, pid == p.pid,
      os.waitstatus_to_exitcode(status), len(sleepers))
''', timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['True', '5', 'True', 'True', 'True', '0', '5']


def test_two_readers_of_one_blocking_pipe_never_block_the_hub():
    # One byte wakes both readers; the one that finds the pipe empty again
    # must go back to waiting, not sit in a blocking read() that stalls
    # every green thread (the writer below included).
    proc = run_script('''
import greenthreads.monkey
greenthreads.monkey.patch_all()
import os, threading, time
r, w = os.pipe()
got = []
readers = [threading.Thread(target=lambda: got.append(os.read(r, 1))) for _ in range(2)]
for t in readers:
    t.start()
time.sleep(0.02)
os.write(w, b'a')
time.sleep(0.02)
os.write(w, b'b')
for t in readers:
    t.join()
print(sorted(got) == [b'a', b'b'])
''', timeout=30)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['True']


_ERRORS_SCRIPT = '''
import sys
if sys.argv[1] == 'patched':
    import greenthreads.monkey
    greenthreads.monkey.patch_all()
import os

def outcome(call, *args):
    try:
        return repr(call(*args))
    except OSError as exc:
        return f'{type(exc).__name__} {exc.errno}'

r, w = os.pipe()
os.set_blocking(r, False)
print('nonblocking read', outcome(os.read, r, 10))
os.set_blocking(w, False)
os.write(w, b'x' * 65536)
print('nonblocking write to a full pipe', outcome(os.write, w, b'y'))
r2, w2 = os.pipe()
print('write to the read end', outcome(os.write, r2, b'x'))
print('read from the write end', outcome(os.read, w2, 1))
os.close(w2)
print('read at eof', outcome(os.read, r2, 1))
print('bad fd', outcome(os.read, 9999, 1), outcome(os.write, 9999, b'x'))
if hasattr(os, 'eventfd'):
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    print('nonblocking eventfd', outcome(os.read, efd, 8))
'''


def test_errors_and_nonblocking_fds_answer_as_natively():
    # A non-blocking fd raises BlockingIOError (it parked); a pipe's wrong end
    # gives EBADF at once (write to the read end waited for ever).
    out = same_as_native(_ERRORS_SCRIPT, timeout=20)
    assert 'BlockingIOError' in out and 'OSError 9' in out
