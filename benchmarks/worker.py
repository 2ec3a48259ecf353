"""One backend in its own process: ``python -m benchmarks.worker BACKEND``.

Reads JSON lines ``{"case": name, "n": count}`` (optionally ``"kwargs": {...}``
for the case) on stdin, runs the case and answers a JSON line ``{"seconds": s,
...case result}`` on stdout, or ``{"error": message}`` with no time if the case
raised, including when it failed its own check of the work (``BenchmarkError``).
The backend's patching happens first, before anything else is imported, so
patches never leak between backends (each has its own process).

``greenthreads-pure`` is ``greenthreads`` in pure-Python mode (the runner sets
``GREENTHREADS_PURE_PYTHON=1`` in its environment).  Every greenthreads answer
carries ``"compiled"`` (``greenthreads.compiled``); the pure backend refuses
to time a case if the compiled build runs.  ``greenlet`` is a limit, not a
threading backend: bare greenlets switching directly, only for ``switch``.
A case a backend does not have (see :func:`supports`) answers ``null``.
"""

import json
import sys

BACKENDS = ['greenthreads', 'greenthreads-pure', 'threading', 'gevent', 'gevent-patched',
            'eventlet-patched', 'asyncio', 'greenlet']

#: The cases the ``greenlet`` backend has: the raw switch is the floor of one
#: case only (the others would need a hub, which is what they measure).
GREENLET_CASES = ('switch',)


def supports(backend, case):
    """True if the backend has the case; a case it lacks answers None, no figure."""
    if backend == 'greenlet':
        return case in GREENLET_CASES
    if backend == 'threading' and case == 'echo_4000':
        return False    # 8,000 OS threads: not the comparison (echo at 100 is theirs)
    if backend == 'asyncio':
        from benchmarks import cases    # late: never before a backend's patching
        return getattr(cases.AsyncioCases, case) is not None
    return True


def setup(backend):
    """Apply the backend's patches and return the api object the cases use."""
    if backend == 'gevent-patched':
        from gevent import monkey
        monkey.patch_all()
    elif backend == 'eventlet-patched':
        import warnings
        warnings.simplefilter('ignore')
        import eventlet
        eventlet.monkey_patch()
    elif backend in ('greenthreads', 'greenthreads-pure'):
        import greenthreads.monkey
        greenthreads.monkey.patch_all()
    if backend in ('threading', 'greenthreads', 'greenthreads-pure', 'gevent-patched',
                   'eventlet-patched'):
        import queue
        import socket as socket_module
        import threading
        import time

        class Api:
            Thread = threading.Thread
            Event = threading.Event
            Lock = threading.Lock
            RLock = threading.RLock
            Queue = queue.Queue
            sleep = time.sleep
            socket = socket_module
        return Api
    if backend == 'gevent':
        import gevent
        import gevent.event
        import gevent.lock
        import gevent.queue
        import gevent.server
        import gevent.socket

        class Api:
            @staticmethod
            def Thread(target, args=()):
                return gevent.Greenlet(target, *args)
            Event = gevent.event.Event
            Lock = staticmethod(lambda: gevent.lock.BoundedSemaphore(1))
            RLock = gevent.lock.RLock
            Queue = gevent.queue.Queue
            sleep = staticmethod(gevent.sleep)
            socket = gevent.socket
            StreamServer = gevent.server.StreamServer
        return Api
    if backend == 'greenlet':
        import greenlet as greenlet_module

        class Api:     # no Thread: cases.switch takes its bare-greenlet path
            greenlet = greenlet_module.greenlet
            getcurrent = staticmethod(greenlet_module.getcurrent)
        return Api
    if backend == 'asyncio':
        return None
    raise SystemExit(f'unknown backend {backend!r}')


def run_case(backend, api, case, n, kwargs=None):
    """Time one case; its check failing raises ``cases.BenchmarkError`` (no time).

    None if the backend does not have the case.  A greenthreads backend's
    result also has ``compiled``; see :func:`greenthreads_mode`.
    """
    import time
    from benchmarks import cases
    if not supports(backend, case):
        return None
    kwargs = kwargs or {}
    mode = greenthreads_mode(backend)     # before the clock: a wrong mode gets no time
    if backend == 'asyncio':
        import asyncio
        fn = getattr(cases.AsyncioCases, case)
        t0 = time.perf_counter()
        result = asyncio.run(fn(n, **kwargs))
    else:
        fn = getattr(cases, case)
        t0 = time.perf_counter()
        result = fn(api, n, **kwargs)
    elapsed = time.perf_counter() - t0
    # A case whose check of its work is costly times the work itself.
    result.setdefault('seconds', elapsed)
    result.update(mode)
    return result


def greenthreads_mode(backend):
    """``{'compiled': greenthreads.compiled}`` for a greenthreads backend, else ``{}``.

    Raises ``cases.BenchmarkError`` if ``greenthreads-pure`` runs the compiled
    build: its figures would be the compiled ones under the pure label.  (The
    ``greenthreads`` backend runs whatever the build gives; the table says which.)
    """
    if backend not in ('greenthreads', 'greenthreads-pure'):
        return {}
    import greenthreads
    from benchmarks import cases
    if backend == 'greenthreads-pure' and greenthreads.compiled:
        raise cases.BenchmarkError('greenthreads-pure: greenthreads.compiled is True '
                                   '(GREENTHREADS_PURE_PYTHON=1 did not take the source)')
    return {'compiled': greenthreads.compiled}


def main():
    backend = sys.argv[1]
    api = setup(backend)
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = run_case(backend, api, request['case'], request['n'],
                              request.get('kwargs'))
        except Exception as exc:  # report (no time), keep serving
            result = {'error': f'{type(exc).__name__}: {exc}'}
        out.write(json.dumps(result) + '\n')
        out.flush()


if __name__ == '__main__':
    main()
