"""green/subprocess: a Popen whose waits park only the calling green thread.

The tests calling ``Popen`` use the class directly, in this process; those
named "under patch_all" run a fresh interpreter where ``subprocess.Popen``
is the green one (and ``communicate`` goes through the patched selectors).
"""

import os
import signal
import subprocess
import time

import pytest

import greenthreads
from greenthreads.green.subprocess import Popen
from conftest import run_script, spawn


def _children_in_parallel(n, seconds):
    """Wait for ``n`` children sleeping ``seconds`` each, one green thread each, while a
    ticker sleeps 10 x 20 ms; return (their return codes, ticks, elapsed)."""
    rcs, ticks = [], []
    t0 = time.monotonic()
    waiters = [spawn(lambda: rcs.append(Popen(['sleep', str(seconds)]).wait())) for _ in range(n)]
    ticker = spawn(lambda: [ticks.append(greenthreads.sleep(0.02)) for _ in range(10)])
    for t in waiters + [ticker]:
        t.join()
    return rcs, len(ticks), time.monotonic() - t0


def test_is_the_stdlib_popen_with_cooperative_waits():
    assert issubclass(Popen, subprocess.Popen)
    assert Popen.__module__ == 'greenthreads.green.subprocess'


def test_waits_park_only_the_calling_green_thread():
    rcs, ticks, elapsed = _children_in_parallel(10, 0.3)
    assert rcs == [0] * 10 and ticks == 10
    assert elapsed < 1.5, elapsed          # one after another: 3 s


def test_wait_with_a_timeout_raises_timeout_expired_and_leaves_the_child_running():
    p = Popen(['sleep', '5'])
    try:
        with pytest.raises(subprocess.TimeoutExpired) as info:
            p.wait(timeout=0.1)
        assert info.value.timeout == 0.1 and info.value.cmd == ['sleep', '5']
        assert p.poll() is None and p.returncode is None
    finally:
        p.kill()
    assert p.wait() == -signal.SIGKILL


def test_the_exit_status_is_kept_and_a_second_wait_returns_it():
    p = Popen(['sh', '-c', 'exit 7'])
    assert p.wait() == 7
    assert p.wait(timeout=0) == 7 and p.returncode == 7


def test_green_threads_waiting_on_one_child_all_get_its_status():
    p = Popen(['sh', '-c', 'sleep 0.1; exit 3'])
    got = []
    waiters = [spawn(lambda: got.append(p.wait())) for _ in range(3)]
    for t in waiters:
        t.join()
    assert got == [3, 3, 3]


def test_a_child_reaped_elsewhere_answers_as_the_stdlib_popen():
    ours, theirs = Popen(['true']), subprocess.Popen(['true'])
    os.waitpid(ours.pid, 0)
    os.waitpid(theirs.pid, 0)
    assert ours.wait(timeout=5) == theirs.wait(timeout=5) == 0


def test_without_pidfds_the_waits_are_short_cooperative_sleeps(monkeypatch):
    monkeypatch.delattr(os, 'pidfd_open', raising=False)
    rcs, ticks, elapsed = _children_in_parallel(5, 0.2)
    assert rcs == [0] * 5 and ticks == 10
    assert elapsed < 1.0, elapsed          # one after another: 1 s
    p = Popen(['sleep', '5'])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(timeout=0.05)
    finally:
        p.kill()
    assert p.wait() == -signal.SIGKILL


# -------------------------------------------------------------- under patch_all
PRELUDE = '''
import greenthreads.monkey
greenthreads.monkey.patch_all()
import subprocess, threading, time
'''


def test_twenty_parallel_children_under_patch_all():
    proc = run_script(PRELUDE + '''
t0 = time.monotonic()
rcs = []
ticks = []
ts = [threading.Thread(target=lambda: rcs.append(subprocess.run(['sleep', '0.3']).returncode))
      for _ in range(20)]
ticker = threading.Thread(target=lambda: [ticks.append(time.sleep(0.02)) for _ in range(10)])
for t in ts + [ticker]: t.start()
for t in ts + [ticker]: t.join()
elapsed = time.monotonic() - t0
print(rcs == [0] * 20, elapsed < 1.0, len(ticks))
''', timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['True', 'True', '10']


def test_the_popen_api_under_patch_all():
    proc = run_script(PRELUDE + '''
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
print(timed_out, killed, big, out, failed, type(subprocess.Popen(['true'])).__module__)
''', timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['True', 'True', 'True', "b'hi\\n'", 'True',
                                   'greenthreads.green.subprocess']


def test_communicate_with_a_timeout_under_patch_all_lets_other_threads_run():
    proc = run_script(PRELUDE + '''
ticks = []
ticker = threading.Thread(target=lambda: [ticks.append(time.sleep(0.02)) for _ in range(10)])
ticker.start()
p = subprocess.Popen(['sh', '-c', 'echo early; exec sleep 5'], stdout=subprocess.PIPE)
try:
    p.communicate(timeout=0.5)
    timed_out = False
except subprocess.TimeoutExpired:
    timed_out = True
ticked = len(ticks)
p.kill()
out, _ = p.communicate()
ticker.join()
print(timed_out, ticked, out)
''', timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['True', '10', "b'early\\n'"]
