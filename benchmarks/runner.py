"""Drive benchmark workers: one process per backend, so patches never mix."""

import importlib.util
import json
import os
import subprocess
import sys

from .worker import BACKENDS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NEEDS = {'gevent': 'gevent', 'gevent-patched': 'gevent', 'eventlet-patched': 'eventlet',
          'greenlet': 'greenlet'}
#: Set in a backend's worker environment (and, where a backend has no entry,
#: removed from it): ``greenthreads`` runs the build as installed even when the
#: caller's shell asks for pure Python, so "pure ÷ compiled" compares the two.
_ENV = {'greenthreads-pure': {'GREENTHREADS_PURE_PYTHON': '1'}}


def available(backend):
    """True if the backend's library is installed (the anchors are optional)."""
    module = _NEEDS.get(backend)
    return module is None or importlib.util.find_spec(module) is not None


def available_backends():
    return [b for b in BACKENDS if available(b)]


def worker_env(backend):
    """The environment of the backend's worker process: ours plus the backend's own settings."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
               PYTHONWARNINGS='ignore')
    for name in {name for settings in _ENV.values() for name in settings}:
        env.pop(name, None)
    env.update(_ENV.get(backend, {}))
    return env


class CaseFailed(RuntimeError):
    """A case raised in its worker (e.g. failed its own check): it has no time."""


class Worker:
    """A ``python -m benchmarks.worker BACKEND`` process answering case requests."""

    def __init__(self, backend):
        self.backend = backend
        self.proc = subprocess.Popen([sys.executable, '-m', 'benchmarks.worker', backend],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=ROOT, env=worker_env(backend))

    def run(self, case, n, **kwargs):
        """Run one case in the worker; its own timing and measurements come back.

        Raises :class:`CaseFailed` if the case raised there, e.g. because it
        failed its check of the work it timed.
        """
        request = {'case': case, 'n': n}
        if kwargs:
            request['kwargs'] = kwargs
        self.proc.stdin.write(json.dumps(request) + '\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f'{self.backend} worker died running {case}')
        result = json.loads(line)
        if result is not None and 'error' in result:
            raise CaseFailed(f'{self.backend} {case} (n={n}): {result["error"]}')
        return result

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
