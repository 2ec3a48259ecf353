"""The ``http`` benchmark: gunicorn serving a WSGI app that waits 10 ms on I/O.

    python -m benchmarks.compare --http [--rounds 3] [--http-seconds 10]

For each worker class (:data:`KINDS`: greenthreads' worker, ``-k gevent``,
``-k gthread --threads 32``, ``-k sync``), each worker count (``-w 1``,
``-w 2``) and each number of keep-alive connections (100, 1,000), a fresh
gunicorn serves :mod:`benchmarks.http_app` on 127.0.0.1 and a separate load
process (``wrk`` if it is installed, else :mod:`benchmarks.load`) drives it
for ``--http-seconds`` after a short warm-up.  Rounds interleave the worker
classes.  Reported: requests/s, p50 and p99 latency, and errors (socket
errors, timeouts, non-200 answers).  Before its load each run checks one
answer's body; a class that cannot start (gevent not installed) is left out.
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from .http_app import BODY
from .runner import ROOT

#: Worker class -> gunicorn arguments.  worker_connections above the largest
#: load, so the cap is never what is measured.
KINDS = {
    'greenthreads': ['-k', 'greenthreads.gunicorn.Worker', '--worker-connections', '2000'],
    'gevent': ['-k', 'gevent', '--worker-connections', '2000'],
    'gthread': ['-k', 'gthread', '--threads', '32'],
    'sync': ['-k', 'sync'],
}
WORKERS = (1, 2)
CONNECTIONS = (100, 1000)


def available_kinds():
    kinds = list(KINDS)
    if importlib.util.find_spec('gevent') is None:
        kinds.remove('gevent')
    return kinds


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Gunicorn:
    """``gunicorn -k KIND -w N benchmarks.http_app:app`` on a free port, until closed."""

    def __init__(self, kind, workers):
        self.port = _free_port()
        self.url = f'http://127.0.0.1:{self.port}/'
        cmd = [sys.executable, '-m', 'gunicorn', *KINDS[kind], '-w', str(workers),
               '-b', f'127.0.0.1:{self.port}', '--backlog', '2048', '--keep-alive', '60',
               '--timeout', '120', '--log-level', 'error', 'benchmarks.http_app:app']
        runtime = os.path.join(os.environ.get('TMPDIR', '/tmp'), f'gt-bench-{os.getpid()}')
        os.makedirs(runtime, exist_ok=True)
        env = dict(os.environ, XDG_RUNTIME_DIR=runtime, PYTHONWARNINGS='ignore',
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url, timeout=5) as reply:
                    body = reply.read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f'gunicorn -k {kind} did not start: {self.proc.stderr.read()}')
                time.sleep(0.2)
        if body != BODY:
            self.close()
            raise RuntimeError(f'gunicorn -k {kind} answered {body!r}, not the app\'s body')

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wrk(url, connections, seconds):
    threads = min(2, connections)
    out = subprocess.run(['wrk', '-t', str(threads), '-c', str(connections), '-d', f'{max(1, round(seconds))}s',
                          '--latency', '--timeout', '10s', url],
                         capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


_UNITS = {'us': 0.001, 'ms': 1.0, 's': 1000.0}


def parse_wrk(out):
    """wrk's report -> requests, rps, p50_ms, p99_ms, errors (socket errors + non-2xx)."""
    def latency(pct):
        m = re.search(rf'^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$', out, re.M)
        return float(m.group(1)) * _UNITS[m.group(2)] if m else None
    requests = int(re.search(r'(\d+) requests in', out).group(1))
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    errors = 0
    m = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    non_200 = int(m.group(1)) if m else 0
    if not requests:        # (wrk prints zero latencies then)
        latency = lambda pct: None     # noqa: E731
    return {'requests': requests, 'rps': rps, 'p50_ms': latency(50), 'p99_ms': latency(99),
            'errors': errors + non_200, 'client': 'wrk'}


def _python_load(url, connections, seconds):
    out = subprocess.run([sys.executable, '-m', 'benchmarks.load', url, str(connections), str(seconds),
                          BODY.decode()], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    res = json.loads(out)
    res['errors'] = res['errors'] + res['non_200'] + res['wrong_body']
    res['client'] = 'benchmarks.load' + (' (client-bound)' if res['client_bound'] else '')
    return res


def load(url, connections, seconds):
    """Drive ``url`` with ``connections`` keep-alive connections for ``seconds``: the figures."""
    if shutil.which('wrk'):
        return _wrk(url, connections, seconds)
    return _python_load(url, connections, seconds)


def run(rounds, seconds, log, kinds=None):
    """Every configuration, ``rounds`` times, the worker classes interleaved: a list of runs."""
    kinds = kinds or available_kinds()
    runs = []
    for r in range(rounds):
        order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
        for workers in WORKERS:
            for connections in CONNECTIONS:
                for kind in order:
                    server = Gunicorn(kind, workers)
                    try:
                        load(server.url, connections, 2)      # warm-up, not counted
                        res = load(server.url, connections, seconds)
                    finally:
                        server.close()
                    if res['requests'] <= 0 and kind == 'greenthreads':
                        raise RuntimeError(f'http: -k {kind} -w {workers} c={connections}: no request done')
                    res.update(kind=kind, workers=workers, connections=connections, round=r)
                    runs.append(res)
                    log(f'round {r + 1}/{rounds} http -w {workers} c={connections:<5} {kind:13} '
                        f'{res["rps"]:9.0f} req/s p50 {_ms(res["p50_ms"])} p99 {_ms(res["p99_ms"])} '
                        f'errors {res["errors"]}')
    return runs


def _num(value):
    return '–' if value is None or value == float('inf') else f'{value:.1f}'


def _ms(value):
    return _num(value) + ('' if _num(value) == '–' else ' ms')


def medians(runs):
    """(kind, workers, connections) -> median requests/s, p50, p99 and errors over the rounds."""
    out = {}
    for key in {(r['kind'], r['workers'], r['connections']) for r in runs}:
        rs = [r for r in runs if (r['kind'], r['workers'], r['connections']) == key]
        # (a class that answered nothing in a run has no latency: infinite)
        out[key] = {m: statistics.median(float('inf') if r[m] is None else r[m] for r in rs)
                    for m in ('rps', 'p50_ms', 'p99_ms')}
        out[key]['errors'] = sum(r['errors'] for r in rs)
        out[key]['client'] = rs[0]['client']
    return out


def table(med, info, rounds, seconds):
    """The markdown report: every configuration, then greenthreads against each other class."""
    kinds = [k for k in KINDS if any(key[0] == k for key in med)]
    lines = [f'gunicorn serving a WSGI app that waits 10 ms, keep-alive load from a separate process '
             f'({next(iter(med.values()))["client"]}), {seconds} s per run after a 2 s warm-up, medians of '
             f'{rounds} interleaved rounds; errors summed over the rounds. {info["cpu"]}, '
             f'{info["cores"]} cores, Python {info["python"]}, {info["date"]}.', '',
             '| workers | connections | worker class | requests/s | p50 ms | p99 ms | errors |',
             '|---|---|---|---|---|---|---|']
    for workers in WORKERS:
        for connections in CONNECTIONS:
            for kind in kinds:
                m = med.get((kind, workers, connections))
                if m:
                    lines.append(f'| {workers} | {connections} | {kind} | {m["rps"]:.0f} | '
                                 f'{_num(m["p50_ms"])} | {_num(m["p99_ms"])} | {m["errors"]} |')
    lines += ['', 'greenthreads ÷ each class: requests/s (higher is better), p99 latency (lower is better).',
              '', '| workers | connections | ' + ' | '.join(f'÷ {k} req/s | ÷ {k} p99' for k in kinds[1:]) + ' |',
              '|---|---|' + '---|---|' * len(kinds[1:])]
    for workers in WORKERS:
        for connections in CONNECTIONS:
            ours = med.get(('greenthreads', workers, connections))
            if not ours:
                continue
            cells = []
            for kind in kinds[1:]:
                other = med.get((kind, workers, connections))
                cells += (['–', '–'] if not other else
                          [f'{ours["rps"] / other["rps"]:.2f}' if other['rps'] else '∞',
                           f'{ours["p99_ms"] / other["p99_ms"]:.2f}' if other['p99_ms'] else '–'])
            lines.append(f'| {workers} | {connections} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'
