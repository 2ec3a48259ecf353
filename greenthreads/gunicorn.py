"""A gunicorn worker that serves every connection in a green thread.

    gunicorn -k greenthreads.gunicorn.Worker --worker-connections 1000 app:app

Each worker process patches the standard library (:func:`greenthreads.monkey.patch_all`)
before it loads the application, so the application's own blocking calls
(``requests``, database drivers, ``time.sleep``) park only the green thread
serving the request.  The parsing, the WSGI environ, the responses
(keep-alive, chunked bodies, ``wsgi.file_wrapper`` through ``sendfile``), the
request limits, the access log and the hooks are gunicorn's own: this worker
is gunicorn's ``AsyncWorker`` with green threads under it.

Settings, as gunicorn documents them:

* ``worker_connections``: at most this many connections are served at once per
  worker; the next one is accepted when one of them closes (the rest wait in
  the listen backlog, ``--backlog``).
* ``keepalive``: seconds an idle keep-alive connection may wait for its next
  request (0: one request per connection).
* ``timeout``: the worker tells the arbiter it is alive from a green thread
  at least once a second; a request that holds the worker's OS thread (CPU
  work, a C call that blocks) for longer than ``timeout`` stops those reports,
  and the arbiter kills and replaces the worker, as with any gunicorn worker.
* ``graceful_timeout``: on ``SIGTERM`` (and when ``max_requests`` recycles the
  worker) it stops accepting, closes idle keep-alive connections, lets the
  requests in flight finish for up to this many seconds, then exits.
* ``SIGQUIT``/``SIGINT``: quick stop (the ``worker_int`` hook, then exit);
  ``SIGUSR1``: reopen the log files; ``SIGHUP`` is the arbiter's (it replaces
  the workers).
* ``max_requests``/``max_requests_jitter``, ``--reuse-port``, several workers
  on one socket, TLS (``--certfile``/``--keyfile``): as gunicorn does them.

With ``--preload`` the application is imported in the arbiter, before any
worker patches: code that runs at import time (a connection pool made then)
is not green.  Patch in the application module itself if it must preload.
"""

import errno
import os
import signal
import sys
import time

from gunicorn import sock as _gsock
from gunicorn.workers.base_async import AsyncWorker

from . import monkey
from ._hub import get_hub

__all__ = ['Worker']

# accept() errors after which the worker just accepts again (the connection
# went away, or a resource is short for a moment).
_TRANSIENT = {errno.EAGAIN, errno.ECONNABORTED, errno.EPROTO, errno.EINTR}
_SHORT_OF = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

#: How often, at most, the worker tells the arbiter it is alive (seconds).
_HEARTBEAT = 1.0


class Worker(AsyncWorker):
    """``gunicorn -k greenthreads.gunicorn.Worker``: a green thread per connection."""

    def init_process(self):
        # In the forked worker, before anything of the application is loaded.
        # The stop signals first: until gunicorn's init_signals() the handlers
        # are the arbiter's, inherited, and a SIGTERM sent while this worker
        # patches and boots would be lost (it would run until SIGKILLed).
        self._stop = None
        self._quit = False
        for signum, handler in ((signal.SIGTERM, self.handle_exit), (signal.SIGQUIT, self.handle_quit),
                                (signal.SIGINT, self.handle_quit)):
            signal.signal(signum, handler)
        monkey.patch_all()
        import threading        # green from here on
        self._threading = threading
        self._green_listeners()
        self._stop = threading.Event()      # set to end run()'s wait early
        if not self.alive:
            self._stop.set()                # a stop signal came already
        self._slots = threading.Semaphore(self.worker_connections)
        self._busy = set()                  # connections being served
        self._idle = set()                  # ...of which waiting for their next request
        self._conn = threading.local()      # .client: the connection this thread serves
        self._ssl_context = _gsock.ssl_context(self.cfg) if self.cfg.is_ssl else None
        self._timers = get_hub().timers     # (one OS thread: one hub)
        super().init_process()

    def _green_listeners(self):
        # The listening sockets were made in the arbiter, before patching: the
        # same descriptors, in green sockets.  Shared with the other workers,
        # so their descriptor stays non-blocking (see _Listener).
        from .green.socket import socket as green_socket

        class _Listener(green_socket):
            # Blocking for this worker's green threads, but the descriptor,
            # shared with other processes, never changes mode: a worker that
            # switched it for its accept() could leave another's blocking.
            __slots__ = ()
            _gt_native_fd_mode = False

        for listener in self.sockets:
            raw = listener.sock
            green = _Listener(raw.family, raw.type, raw.proto, fileno=raw.detach())
            green.setblocking(True)
            listener.sock = green

    # ---------------------------------------------------------------- run
    def run(self):
        threading = self._threading
        threading.Thread(target=self._drain_signal_pipe, name='gunicorn signal pipe', daemon=True).start()
        acceptors = []
        for listener in self.sockets:
            t = threading.Thread(target=self._accept_loop, args=(listener, _BoundName(listener)),
                                 name=f'gunicorn acceptor {listener}', daemon=True)
            t.start()
            acceptors.append(t)
        beat = min(_HEARTBEAT, self.timeout / 2) if self.timeout else _HEARTBEAT
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info('Parent changed, shutting down: %s', self)
                break
            self._stop.wait(beat)
        self.alive = False
        if self._quit:
            self._exit_now()
        self._finish(acceptors)

    def _drain_signal_pipe(self):
        # gunicorn's init_signals() points the signal wake-up fd at its pipe,
        # instead of the hub's: waiting on it here is what wakes the hub when a
        # signal comes, so its handler runs at once, not at the next heartbeat.
        import select
        fd = self.PIPE[0]
        while True:
            try:
                select.select([fd], [], [])
                os.read(fd, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return

    def _accept_loop(self, listener, name):
        threading = self._threading
        share = self.cfg.workers > 1
        while self.alive:
            self._slots.acquire()
            try:
                client, addr = listener.accept()
            except OSError as exc:
                self._slots.release()
                if not self.alive:
                    return              # the listener was closed to stop us
                if exc.errno in _TRANSIENT:
                    continue
                if exc.errno in _SHORT_OF:
                    self.log.error('accept() failed: %s; retrying in 0.1 s', exc)
                    self._stop.wait(0.1)
                    continue
                raise
            # Busy from now on, not from when its thread first runs: a stop
            # in between must wait for it, not exit and drop it unanswered.
            self._busy.add(client)
            try:
                threading.Thread(target=self._serve, args=(name, client, addr),
                                 daemon=True).start()
            except BaseException:
                self._busy.discard(client)
                self._slots.release()
                client.close()
                raise
            if share:
                # Let the new connection's thread (and the others) run before
                # accepting again: a worker that drained the backlog in one go
                # would take nearly every connection of a burst, and the other
                # workers on the socket would sit idle.
                time.sleep(0)

    def _serve(self, listener, client, addr):
        accepted = client
        try:
            if self._ssl_context is not None:
                client = self._ssl_context.wrap_socket(
                    client, server_side=True, suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
                    do_handshake_on_connect=self.cfg.do_handshake_on_connect)
            self._conn.client = client
            self._conn.fresh = True         # no request read yet (see _IdleWait)
            self.handle(listener, client, addr)
        finally:
            self._busy.discard(accepted)
            self._slots.release()
            if not self.alive:
                self._stop.set()        # run() may be waiting for the last one

    def timeout_ctx(self):
        """The wait for a connection's next request: at most ``keepalive`` seconds.

        Used by ``AsyncWorker.handle`` around reading each request head; when
        the time is up (or the worker stops), the connection closes quietly.
        """
        return _IdleWait(self)

    # ------------------------------------------------------------ stopping
    def _finish(self, acceptors):
        """Stop accepting; let the requests in flight end (up to graceful_timeout)."""
        for listener in self.sockets:
            try:
                listener.close()            # wakes the acceptors, which return
            except OSError:
                pass
        for t in acceptors:
            t.join(1.0)
        for client in list(self._idle):
            _shut(client)       # waiting for a next request: none will be served
        # (a connection that goes idle from now on shuts itself: see _IdleWait)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while True:
            self._stop.clear()
            if self._quit:
                self._exit_now()    # SIGQUIT/SIGINT during the graceful stop: stop now
            if not self._busy:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.notify()
            self._stop.wait(min(remaining, _HEARTBEAT))     # set as the last one ends
        self.log.warning('Worker graceful timeout (pid:%s)', self.pid)

    def _exit_now(self):
        self.cfg.worker_int(self)
        sys.exit(0)

    def handle_exit(self, sig, frame):
        # SIGTERM: graceful stop.
        self.alive = False
        if self._stop is not None:      # (None while booting: run() sees alive)
            self._stop.set()

    def handle_quit(self, sig, frame):
        # SIGQUIT/SIGINT: gunicorn's handler sleeps, which a signal handler
        # may not do here; run() calls the hook and exits instead.
        self.alive = False
        self._quit = True
        if self._stop is not None:
            self._stop.set()

    def handle_request(self, listener_name, req, sock, addr):
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            if not self.alive:
                self._stop.set()        # max_requests reached: run() starts the stop now


class _BoundName:
    """What ``handle()`` asks of its listener (its address), answered after the listener is closed."""

    __slots__ = ('name',)

    def __init__(self, listener):
        self.name = listener.getsockname()

    def getsockname(self):
        return self.name


class _IdleWait:
    """A connection waiting for its next request: a deadline, and known to the stop.

    When ``keepalive`` seconds pass before the request head is read, a timer
    on the hub shuts the connection: the read sees the end of the stream and
    the connection closes quietly (as gunicorn's own workers log it).  No
    socket timeout is set, which would cost system calls on every request.
    A connection accepted but not yet read is not idle: its first request,
    very likely sent already, is served even when the worker is stopping.
    """

    __slots__ = ('worker', 'client', 'idle', 'timer')

    def __init__(self, worker):
        self.worker = worker
        self.client = worker._conn.client
        self.idle = not worker._conn.fresh

    def __enter__(self):
        worker, client = self.worker, self.client
        self.timer = worker._timers.arm(worker.cfg.keepalive, _shut, client)
        if self.idle:
            worker._idle.add(client)
            if not worker.alive:
                _shut(client)           # stopping: no next request will be served
        return self

    def __exit__(self, exc_type, exc, tb):
        worker = self.worker
        worker._timers.cancel(self.timer)
        worker._conn.fresh = False
        worker._idle.discard(self.client)
        return False


def _shut(client):
    try:
        client.shutdown(2)      # SHUT_RDWR: its reader sees the end of the stream
    except OSError:
        pass
