"""One backend in its own process: ``python -m benchmarks.worker BACKEND``.

Reads JSON lines ``{"case": name, "n": count}`` (optionally ``"kwargs": {...}``
for the case) on stdin, runs the case and answers a JSON line ``{"seconds": s,
...case result}`` on stdout, or ``{"error": message}`` with no time if the case
raised, including when it failed its own check of the work (``BenchmarkError``).
The backend's patching happens first, before anything else is imported, so
patches never leak between backends (each has its own process).
"""

import json
import sys

BACKENDS = ['greenthreads', 'threading', 'gevent', 'gevent-patched', 'eventlet-patched', 'asyncio']


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
    elif backend == 'greenthreads':
        import greenthreads.monkey
        greenthreads.monkey.patch_all()
    if backend in ('threading', 'greenthreads', 'gevent-patched', 'eventlet-patched'):
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
    if backend == 'asyncio':
        return None
    raise SystemExit(f'unknown backend {backend!r}')


def run_case(backend, api, case, n, kwargs=None):
    """Time one case; its check failing raises ``cases.BenchmarkError`` (no time)."""
    import time
    from benchmarks import cases
    kwargs = kwargs or {}
    if backend == 'asyncio':
        import asyncio
        fn = getattr(cases.AsyncioCases, case)
        if fn is None:
            return None
        t0 = time.perf_counter()
        result = asyncio.run(fn(n, **kwargs))
    else:
        fn = getattr(cases, case)
        t0 = time.perf_counter()
        result = fn(api, n, **kwargs)
    result['seconds'] = time.perf_counter() - t0
    return result


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
