"""Run every case on every backend, interleaved, and write the comparison.

    python -m benchmarks.compare [--rounds 5] [--million] [--scale 1] [--out benchmarks/results]
    python -m benchmarks.compare --http [--rounds 3] [--http-seconds 10]   (gunicorn: benchmarks/http_gunicorn.py)

Each backend runs in its own worker process.  Rounds interleave the backends
(rotating the order each round) so that machine noise hits all of them
alike; the table reports medians and ratios against gevent (native API) and
gevent-patched (threading code under ``gevent.monkey.patch_all()``).
``greenthreads`` runs the build as installed (the table's first line says
whether compiled); ``greenthreads-pure`` the same in pure-Python mode.  The
limits (:data:`LIMITS`) are measured in the same rounds: bare greenlet
switches (the ``greenlet`` backend) and the C ``_thread`` locks (``threading``).
``sleepers`` runs once per round in a fresh process per backend (peak RSS is
per process); ``--million`` adds greenthreads with 1,000,000 sleepers.

Writes ``results.json`` (every run), ``results.md`` (the tables) and
``chart.png`` (needs matplotlib, in the ``bench`` extra).  Every case checks
its own result (items received, bytes echoed...); if one fails its check, or
raises, the comparison stops with that message and writes nothing.
``--scale 0.01`` shrinks every case's size: a quick smoke run, not a result.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys

from . import cases
from .runner import CaseFailed, Worker, available_backends
from .worker import supports

# (case, metric, against, bound, description): issue 12's targets.  Met if
# greenthreads' metric ÷ the anchor's is <= bound; with no anchor (a share),
# if greenthreads' own figure is >= bound.
TARGETS = [
    ('switch', 'us', 'gevent', 0.4, '≤ 0.4 × gevent (Event handoff)'),
    ('lock_uncontended', 'us', 'threading', 1.0, '≤ 1.0 × threading (the OS `_thread.lock`)'),
    ('rlock_uncontended', 'us', 'threading', 1.0, '≤ 1.0 × threading (the C `_thread.RLock`)'),
    ('lock_contended', 'us', 'gevent', 0.8, '≤ 0.8 × gevent'),
    ('lock_contended', 'handoff_ratio', None, 0.9, 'ownership changes on ≥ 90 % of releases with waiters'),
    ('spawn_join', 'us', 'gevent', 0.3, '≤ 0.3 × gevent'),
    ('queue', 'us', 'gevent-patched', 3.0, '≤ 3.0 × gevent-patched'),
    # µs per round trip, so ≥ 1.5 × the round trips/s is ≤ 1/1.5 × the µs
    ('echo', 'us', 'gevent', 1 / 1.5, 'round trips/s ≥ 1.5 × gevent StreamServer (500 connections)'),
    ('echo_4000', 'us', 'gevent', 1 / 1.3, 'round trips/s ≥ 1.3 × gevent StreamServer (4,000 connections)'),
]

#: The physical floor of a case: the backend whose figure greenthreads' cannot
#: beat.  Bare greenlets switching directly (no hub) for the Event handoff;
#: for the locks, unpatched threading's Lock and RLock are the C
#: ``_thread.lock`` and ``_thread.RLock``.
LIMITS = {'switch': 'greenlet', 'lock_uncontended': 'threading', 'rlock_uncontended': 'threading'}


def machine():
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for mod in ('greenlet', 'gevent', 'eventlet'):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            pass
    return {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
            'platform': platform.platform(), 'versions': versions,
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}


def run(rounds, million, log, scale=1.0):
    backends = available_backends()

    def size(case, b):
        return max(1, round(cases.size(case, b) * scale))
    runs = []   # dicts: case, backend, round, n, seconds, us, extras...
    workers = {b: Worker(b) for b in backends}
    try:
        for r in range(rounds):
            order = backends[r % len(backends):] + backends[:r % len(backends)]
            for case in cases.CASES:
                if case == 'sleepers':
                    continue
                for b in order:
                    if not supports(b, case):
                        continue
                    n = size(case, b)
                    res = workers[b].run(case, n)
                    if res is None:
                        continue
                    res.update(case=case, backend=b, round=r, n=n, us=res['seconds'] / res['ops'] * 1e6)
                    runs.append(res)
                    log(f'round {r + 1}/{rounds} {case:18} {b:17} {res["us"]:9.3f} us/op')
            for b in order:
                if not supports(b, 'sleepers'):
                    continue    # no process started for a case the backend lacks
                n = size('sleepers', b)
                with Worker(b) as w:
                    res = w.run('sleepers', n)
                res.update(case='sleepers', backend=b, round=r, n=n, us=res['seconds'] / res['ops'] * 1e6)
                runs.append(res)
                log(f'round {r + 1}/{rounds} sleepers n={n:<9} {b:17} {res["seconds"]:7.2f} s '
                    f'{res["kb_per_thread"]:6.2f} KB/thread')
    finally:
        for w in workers.values():
            w.close()
    if million:
        n = size('sleepers', 'greenthreads') * 10   # 1,000,000 at scale 1
        with Worker('greenthreads') as w:
            res = w.run('sleepers', n)
        res.update(case='sleepers_1m', backend='greenthreads', round=0, n=n,
                   us=res['seconds'] / res['ops'] * 1e6)
        runs.append(res)
        log(f'{n:,} greenthreads sleepers: {res["seconds"]:.2f} s, '
            f'{res["kb_per_thread"]:.2f} KB/thread')
    return backends, runs


def medians(runs):
    """``{(case, backend): {metric: median}}``; greenthreads' also ``compiled``: True if every run was."""
    out = {}
    for run in runs:
        key = (run['case'], run['backend'])
        out.setdefault(key, []).append(run)
    med = {key: {metric: statistics.median(r[metric] for r in rs)
                 for metric in ('n', 'us', 'seconds', 'handoff_ratio', 'kb_per_thread')
                 if metric in rs[0]}
           for key, rs in out.items()}
    for key, rs in out.items():
        if 'compiled' in rs[0]:
            med[key]['compiled'] = all(r['compiled'] for r in rs)
    return med


def greenthreads_build(med, backend='greenthreads'):
    """How the backend's greenthreads ran, in words, from ``compiled`` in its medians.

    None if no run of the backend recorded it.
    """
    flags = {m['compiled'] for (_case, b), m in med.items() if b == backend and 'compiled' in m}
    if not flags:
        return None
    if flags == {True}:
        return 'compiled (Cython build)'
    if flags == {False}:
        return 'pure Python (no current compiled build: "pure ÷ compiled" compares pure with pure)'
    return 'compiled in some cases only (a stale build?)'


def _ratio(med, case, ours, theirs, metric='us'):
    # ours ÷ theirs for one case, or None where either has no figure.
    a, b = med.get((case, ours)), med.get((case, theirs))
    if not a or not b or metric not in a or metric not in b:
        return None
    return a[metric] / b[metric]


def table(backends, med, info, rounds):
    """The markdown tables: µs per operation with ratios and limits, fairness and memory, targets."""
    mode = greenthreads_build(med)
    lines = [f'Measured {info["date"]} on {info["cpu"]} ({info["cores"]} cores), '
             f'Python {info["python"]}, ' + ', '.join(f'{k} {v}' for k, v in info['versions'].items())
             + f'; median of {rounds} interleaved rounds (`python -m benchmarks.compare`)'
             + (f'; greenthreads ran {mode}.' if mode else '.'), '']
    lines += main_table(backends, med)
    # The fairness and memory rows: no column for a backend without them (a limit).
    backends = [b for b in backends if any((c, b) in med for c in ('lock_contended', 'sleepers'))]
    lines += ['', 'Fairness and memory:', '',
              '| measure | ' + ' | '.join(backends) + ' |', '|' + '---|' * (len(backends) + 1)]
    lines.append('| lock_contended: share of releases with waiters that changed owner | ' + ' | '.join(
        f'{med[("lock_contended", b)]["handoff_ratio"]:.0%}' if ('lock_contended', b) in med else '–'
        for b in backends) + ' |')
    lines.append('| sleepers: KB per sleeping thread | ' + ' | '.join(
        f'{med[("sleepers", b)]["kb_per_thread"]:.2f}' if ('sleepers', b) in med else '–'
        for b in backends) + ' |')
    lines.append('| sleepers: threads, seconds to finish (1 s sleep) | ' + ' | '.join(
        f'{med[("sleepers", b)]["n"]:,}: {med[("sleepers", b)]["seconds"]:.2f}'
        if ('sleepers', b) in med else '–' for b in backends) + ' |')
    m1 = med.get(('sleepers_1m', 'greenthreads'))
    if m1:
        lines += ['', f'{m1["n"]:,} live greenthreads threads sleeping 1 s: finished in '
                      f'{m1["seconds"]:.2f} s, {m1["kb_per_thread"]:.2f} KB per thread.']
    lines += [''] + targets_table(med)
    return '\n'.join(lines) + '\n'


def main_table(backends, med):
    """µs per operation for every case and backend, then greenthreads' ratios.

    ``÷ limit``: greenthreads ÷ the case's :data:`LIMITS` backend (whose figure
    is in italics); ``pure ÷ compiled``: greenthreads-pure ÷ greenthreads.
    """
    lines = ['µs per operation (lower is better); ratios are greenthreads ÷ the anchor, '
             'the limit (in italics: bare greenlet switches, the C `_thread` locks) '
             'and "pure ÷ compiled" is greenthreads-pure ÷ greenthreads.', '']
    lines += ['| case | ' + ' | '.join(backends) + ' | ÷ gevent | ÷ gevent-patched | ÷ limit '
              '| pure ÷ compiled |', '|' + '---|' * (len(backends) + 5)]
    for case in cases.CASES:
        row = [case]
        for b in backends:
            m = med.get((case, b))
            cell = '–' if m is None else f'{m["us"]:.3f}'
            row.append(f'*{cell}*' if m is not None and LIMITS.get(case) == b else cell)
        ratios = [_ratio(med, case, 'greenthreads', anchor) for anchor in ('gevent', 'gevent-patched')]
        ratios.append(_ratio(med, case, 'greenthreads', LIMITS[case]) if case in LIMITS else None)
        ratios.append(_ratio(med, case, 'greenthreads-pure', 'greenthreads'))
        row += ['–' if r is None else f'{r:.2f}' for r in ratios]
        lines.append('| ' + ' | '.join(row) + ' |')
    return lines


def targets_table(med):
    """Issue 12's targets: greenthreads' figure, met or not, and greenthreads-pure's beside it.

    A target whose anchor (or greenthreads) has no figure is left out.
    """
    lines = ['Targets (issue 12): ratios of µs per operation, so for echo ≤ 0.67× is ≥ 1.5× the '
             'round trips/s; "met" judges greenthreads, "measured (pure)" is greenthreads-pure '
             'against the same anchor.', '',
             '| case | target | measured | measured (pure) | met |', '|---|---|---|---|---|']
    for case, metric, against, bound, text in TARGETS:
        value = _target_value(med, case, metric, against, 'greenthreads')
        if value is None:
            continue
        pure = _target_value(med, case, metric, against, 'greenthreads-pure')
        met = value >= bound if against is None else value <= bound
        lines.append(f'| {case} | {text} | {_shown(value, against)} | {_shown(pure, against)} '
                     f'| {"yes" if met else "**no**"} |')
    return lines


def _target_value(med, case, metric, against, backend):
    # The backend's own figure (a share) or its ratio to the anchor; None if missing.
    if against is not None:
        return _ratio(med, case, backend, against, metric)
    ours = med.get((case, backend))
    return ours.get(metric) if ours else None


def _shown(value, against):
    # A share (no anchor) as a percentage, a ratio as a factor.
    if value is None:
        return '–'
    return f'{value:.0%}' if against is None else f'{value:.2f}×'


def chart(backends, med, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    shown = [c for c in cases.CASES]
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.8 / len(backends)
    for i, b in enumerate(backends):
        xs, ys = [], []
        for j, c in enumerate(shown):
            m = med.get((c, b))
            if m:
                xs.append(j + i * width)
                ys.append(m['us'])
        ax.bar(xs, ys, width, label=b)
    ax.set_yscale('log')
    ax.set_xticks([j + width * (len(backends) - 1) / 2 for j in range(len(shown))])
    ax.set_xticklabels(shown, rotation=15)
    ax.set_ylabel('µs per operation (log scale, lower is better)')
    ax.set_title('greenthreads vs OS threads, gevent, eventlet, asyncio (median)')
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--million', action='store_true', help='also 1,000,000 greenthreads sleepers')
    parser.add_argument('--scale', type=float, default=1.0,
                        help='multiply every case size (e.g. 0.01 for a quick smoke run)')
    parser.add_argument('--out', default=os.path.join(os.path.dirname(__file__), 'results'))
    parser.add_argument('--http', action='store_true',
                        help='run the gunicorn benchmark instead (benchmarks/http_gunicorn.py): http.json, http.md')
    parser.add_argument('--http-seconds', type=float, default=10.0, help='load time per http run')
    args = parser.parse_args(argv)
    info = machine()
    if args.http:
        return main_http(args, info)
    try:
        backends, runs = run(args.rounds, args.million,
                             lambda s: print(s, file=sys.stderr, flush=True), args.scale)
    except CaseFailed as exc:   # e.g. a case failed its own check: no figure for it
        raise SystemExit(f'benchmark failed, nothing written: {exc}') from exc
    med = medians(runs)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump({'machine': info, 'rounds': args.rounds, 'scale': args.scale, 'runs': runs},
                  f, indent=1)
    md = table(backends, med, info, args.rounds)
    if args.scale != 1:
        md = f'Smoke run at `--scale {args.scale}`: sizes shrunk, not a result.\n\n' + md
    with open(os.path.join(args.out, 'results.md'), 'w') as f:
        f.write(md)
    try:
        chart(backends, med, os.path.join(args.out, 'chart.png'))
    except ImportError:
        print('matplotlib not installed: no chart (pip install -e .[bench])', file=sys.stderr)
    print(md)


def main_http(args, info):
    from . import http_gunicorn as http
    runs = http.run(args.rounds, args.http_seconds, lambda s: print(s, file=sys.stderr, flush=True))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'http.json'), 'w') as f:
        json.dump({'machine': info, 'rounds': args.rounds, 'seconds': args.http_seconds, 'runs': runs},
                  f, indent=1)
    md = http.table(http.medians(runs), info, args.rounds, args.http_seconds)
    with open(os.path.join(args.out, 'http.md'), 'w') as f:
        f.write(md)
    print(md)


if __name__ == '__main__':
    main()
