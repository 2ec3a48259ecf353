"""What the stall monitor costs on echo: ``python -m benchmarks.stall_cost [--rounds N] [--pure]``.

Times the ``echo`` case on greenthreads (500 connections x 200 round trips, the
size ``benchmarks.compare`` uses), each run in a fresh worker process, with the
monitor off and on (``GREENTHREADS_STALL_MS=100`` in the worker's environment:
``monitor_stalls(0.1)`` at import, a watchdog OS thread sampling every 25 ms),
in N interleaved rounds (default 7; the order flips every round).  Prints each
run's time and CPU time, the medians, on ÷ off (the requirement: <= 1.03), the
median of the rounds' own on ÷ off, and the spread of the off runs alone: where
that spread is wider than 3 %, one run of 7 rounds cannot settle 3 % (use more).

Every run is checked: the case checks its own work (bytes echoed, replies in
order); the worker checks, before and after the case, that
``greenthreads.debug._monitor`` is a 0.1 s monitor when on and None when off,
and counts the watchdog's samples during the case (at least one when on).
Without ``--pure`` the compiled build must run; ``--pure`` runs greenthreads in
pure-Python mode (``GREENTHREADS_PURE_PYTHON=1``).  A failed check stops the
run with no figures.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from . import cases
from .runner import ROOT, worker_env

THRESHOLD_MS = 100


def _run_worker(backend, on, n):
    """One echo run in a fresh process: its result (``seconds``, ``samples``...)."""
    env = worker_env(backend)
    env.pop('GREENTHREADS_STALL_MS', None)
    if on:
        env['GREENTHREADS_STALL_MS'] = str(THRESHOLD_MS)
    proc = subprocess.run([sys.executable, '-m', 'benchmarks.stall_cost', '--worker', backend,
                           'on' if on else 'off', str(n)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f'echo, {backend}, monitor {"on" if on else "off"} failed:\n{proc.stderr}')
    return json.loads(proc.stdout.splitlines()[-1])


def worker(backend, on, n):
    """In the worker process: patch (as benchmarks.worker does), check the monitor, time echo."""
    from .worker import run_case, setup
    api = setup(backend)
    from greenthreads import debug
    monitor = debug._monitor
    samples = [0]

    def check_state(when):
        m = debug._monitor
        ok = (m is monitor and m is not None and m.threshold == THRESHOLD_MS / 1000
              and not m._stop) if on else m is None
        if not ok:
            raise cases.BenchmarkError(f'monitor {"on" if on else "off"} wanted, but {when} '
                                       f'greenthreads.debug._monitor is {m!r}')
    check_state('before the case')
    if on:      # count the watchdog's samples (its loop looks up self.check each time)
        sample = monitor.check

        def counted(now):
            samples[0] += 1
            sample(now)
        monitor.check = counted
    t0 = os.times()
    result = run_case(backend, api, 'echo', n)
    t1 = os.times()
    check_state('after the case')
    if on and samples[0] == 0:
        raise cases.BenchmarkError('monitor on, but the watchdog took no sample during the case')
    if backend == 'greenthreads' and not result['compiled']:
        raise cases.BenchmarkError('greenthreads ran pure Python (a stale build?), '
                                   'not the compiled build')
    result.update(cpu=t1.user + t1.system - t0.user - t0.system, samples=samples[0],
                  reports=monitor.reports if on else 0, source=os.path.dirname(debug.__file__))
    print(json.dumps(result))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--pure', action='store_true', help='GREENTHREADS_PURE_PYTHON=1 in the workers')
    parser.add_argument('--worker', nargs=3, metavar=('BACKEND', 'ON', 'N'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        backend, on, n = args.worker
        return worker(backend, on == 'on', int(n))
    backend = 'greenthreads-pure' if args.pure else 'greenthreads'
    n = cases.size('echo', backend)
    print(f'echo, {backend}, {n} connections, monitor off/on ({THRESHOLD_MS} ms), '
          f'{args.rounds} rounds', flush=True)
    times, cpu = {False: [], True: []}, {False: [], True: []}
    sources = set()
    pairs = []
    for r in range(args.rounds):
        got = {}
        for on in ((False, True) if r % 2 == 0 else (True, False)):
            res = _run_worker(backend, on, n)
            got[on] = res['seconds']
            times[on].append(res['seconds'])
            cpu[on].append(res['cpu'])
            sources.add(res['source'])
            print(f'round {r + 1}/{args.rounds} monitor {"on " if on else "off"} '
                  f'{res["seconds"]:.3f} s {res["seconds"] / res["ops"] * 1e6:7.3f} us/trip  '
                  f'cpu {res["cpu"]:.2f} s  ops={res["ops"]} compiled={res["compiled"]} '
                  f'samples={res["samples"]} stall reports={res["reports"]}',
                  flush=True)
        pairs.append(got[True] / got[False])
    print(f'greenthreads from {", ".join(sorted(sources))}')
    off, on = statistics.median(times[False]), statistics.median(times[True])
    ratio = on / off
    print(f'median off {off:.3f} s, on {on:.3f} s: on / off = {ratio:.4f} '
          f'(median of the per-round ratios {statistics.median(pairs):.4f}); '
          f'requirement <= 1.03: {"met" if ratio <= 1.03 else "NOT met"}')
    print(f'spread of the off runs alone: {min(times[False]):.3f} to {max(times[False]):.3f} s '
          f'(max / min = {max(times[False]) / min(times[False]):.3f})')
    print(f'median CPU time (user + system, all threads, during the case) '
          f'off {statistics.median(cpu[False]):.3f} s, on {statistics.median(cpu[True]):.3f} s')


if __name__ == '__main__':
    main()
