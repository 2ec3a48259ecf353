"""python -m greenthreads, patch_all, and unmodified stdlib servers on green threads."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

SCRIPTS = os.path.join(ROOT, 'tests', 'scripts')


def run_main(*args, timeout=120):
    return subprocess.run([sys.executable, '-m', 'greenthreads', *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT))


def test_script_gets_argv_file_and_exit_code(tmp_path):
    script = tmp_path / 'prog.py'
    script.write_text(textwrap.dedent('''
        import sys, threading, socket, select, time
        import greenthreads, greenthreads.monkey as monkey
        print(sys.argv[1:], __file__ == sys.argv[0], __name__)
        print(threading.Thread is greenthreads.Thread, monkey.is_patched('socket', 'socket'),
              hasattr(select, 'epoll'), sys.path[0] == %r)
        raise SystemExit(7)
    ''' % str(tmp_path)))
    proc = run_main(str(script), 'a', '--b')
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout.splitlines() == ["['a', '--b'] True __main__", 'True True False True']


def test_uncaught_exception_prints_traceback_and_exits_1(tmp_path):
    script = tmp_path / 'boom.py'
    script.write_text('def f():\n    raise ValueError("boom")\nf()\n')
    proc = run_main(str(script))
    assert proc.returncode == 1
    assert 'ValueError: boom' in proc.stderr and 'boom.py' in proc.stderr


def test_dash_m_runs_a_module():
    proc = run_main('-m', 'json.tool', '--help')
    assert proc.returncode == 0 and 'usage' in proc.stdout.lower()


def test_usage_without_arguments():
    proc = run_main()
    assert proc.returncode == 2 and 'usage' in proc.stderr


@pytest.mark.timeout(300)
def test_threading_tcp_server_5000_connections_one_os_thread():
    proc = run_main(os.path.join(SCRIPTS, 'echo_server.py'), '5000', timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # N, every byte echoed, the most connections served at once, OS threads;
    # stderr carries any client or handler thread's traceback (excepthook)
    assert proc.stdout.split() == ['5000', 'True', '5000', '1'], proc.stderr[-3000:]


@pytest.mark.timeout(300)
def test_threading_http_server_5000_keepalive_connections_one_os_thread():
    proc = run_main(os.path.join(SCRIPTS, 'http_server.py'), '5000', timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['5000', 'True', '1'], proc.stderr[-3000:]
