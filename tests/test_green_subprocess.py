"""subprocess under patch_all: waits park only the calling green thread."""

from conftest import run_script


def test_twenty_parallel_children_and_the_popen_api():
    proc = run_script('''
import greenthreads.monkey
greenthreads.monkey.patch_all()
import subprocess, threading, time
t0 = time.monotonic()
rcs = []
ticks = []
ts = [threading.Thread(target=lambda: rcs.append(subprocess.run(['sleep', '0.3']).returncode))
      for _ in range(20)]
ticker = threading.Thread(target=lambda: [ticks.append(time.sleep(0.02)) for _ in range(10)])
for t in ts + [ticker]: t.start()
for t in ts + [ticker]: t.join()
elapsed = time.monotonic() - t0
p = subprocess.Popen(['sleep', '5'])
try:
    p.wait(timeout=0.1)
    timed_out = False
except subprocess.TimeoutExpired:
    timed_out = True
p.kill()
killed = p.wait() == -9
big = subprocess.run(['cat'], input=b'x' * 300000, capture_output=True).stdout == b'x' * 300000
out = subprocess.check_output(['sh', '-c', 'echo hi; exit 0'])
try:
    subprocess.check_call(['sh', '-c', 'exit 3'])
    failed = False
except subprocess.CalledProcessError as e:
    failed = e.returncode == 3
print(rcs == [0] * 20, elapsed < 1.0, len(ticks), timed_out, killed, big, out, failed,
      type(subprocess.Popen(['true'])).__module__)
''', timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['True', 'True', '10', 'True', 'True', 'True', "b'hi\\n'",
                                   'True', 'greenthreads.green.subprocess']
