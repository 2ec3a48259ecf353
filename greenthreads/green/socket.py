"""Cooperative sockets: the ``socket`` module's API; blocking calls park only the caller.

:class:`socket` is a subclass of the stdlib ``socket.socket``.  The file
descriptor underneath is always non-blocking; the timeout the user sets
(``settimeout``/``setblocking``/``setdefaulttimeout``) is kept here and
applied while parked on the hub's poller, so:

* blocking mode waits as long as it takes, parking only the calling thread;
* timeout mode raises ``TimeoutError('timed out')`` (``socket.timeout``) after
  the timeout, counted over the whole call (``sendall`` included), as CPython;
* non-blocking mode raises ``BlockingIOError`` at once, as CPython.

Closing a socket wakes the green threads waiting on it; they get the error
plain Python gives for a closed socket, in their own thread only.
"""

import errno
import itertools
import os
import socket as _std
import sys
import _socket
import time

from .._hub import READ, WRITE, peek_hub
from .._park import wait_fd

# Everything the stdlib module offers, with the blocking pieces replaced below.
from socket import *  # noqa: F401,F403  (constants, exceptions, getaddrinfo, ...)
from socket import _GLOBAL_DEFAULT_TIMEOUT

__all__ = list(_std.__all__)

_monotonic = time.monotonic
_csock = _socket.socket
_csock_type = _csock.type.__get__
_csock_recv = _csock.recv
_csock_recv_into = _csock.recv_into
_new_key = itertools.count(1).__next__


class socket(_std.socket):
    """A stdlib-compatible socket whose blocking calls are cooperative."""

    __slots__ = ('_gt_timeout', '_gt_key', '_gt_stream', '_gt_drained')

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        super().__init__(family, type, proto, fileno)
        # What CPython would give a new socket: the default timeout, or
        # non-blocking mode when the type asked for it.
        self._gt_timeout = _csock.gettimeout(self)
        _csock.setblocking(self, False)
        # Names this socket's registrations in the hub (see Hub.add_io).
        self._gt_key = _new_key()
        # A stream socket whose last read came back short has (very likely)
        # nothing more to read: its next blocking read waits first instead of
        # making a call that fails with EAGAIN.  See recv().
        self._gt_stream = _csock_type(self) == SOCK_STREAM
        self._gt_drained = False

    # -- the user-visible timeout (the fd itself stays non-blocking)
    def settimeout(self, value):
        """Set the timeout: None blocks, 0 is non-blocking, > 0 is seconds."""
        _csock.settimeout(self, value)          # CPython's own validation
        self._gt_timeout = _csock.gettimeout(self)
        _csock.setblocking(self, False)

    def gettimeout(self):
        """The timeout in seconds, or None in blocking mode."""
        return self._gt_timeout

    def setblocking(self, flag):
        """Blocking (timeout None) or non-blocking (timeout 0.0) mode."""
        _csock.setblocking(self, False)     # the fd stays non-blocking; raises as CPython on a bad fd
        self._gt_timeout = None if flag else 0.0

    def getblocking(self):
        """True unless the socket is in non-blocking mode."""
        return self._gt_timeout != 0.0

    @property
    def timeout(self):
        return self._gt_timeout

    # -- the one waiting loop every blocking call goes through (recv, send,
    #    _accept and the rest are made by _io_method, after the class; recv and
    #    recv_into are written out below)
    def _gt_retry(self, method, event, args):
        """``method(self, *args)`` failed with EAGAIN: wait for ``event``, retry, until done.

        Never called in non-blocking mode.  Timeout mode raises TimeoutError
        once the timeout has passed since the first wait (as CPython, which
        starts the clock there too).
        """
        timeout = self._gt_timeout
        if timeout is None:
            while True:
                wait_fd(self.fileno(), event, None, self._gt_key)   # _gt_wait, inlined
                try:
                    return method(self, *args)
                except BlockingIOError:
                    pass
        deadline = _monotonic() + timeout
        while True:
            self._gt_wait(event, deadline, True)
            try:
                return method(self, *args)
            except BlockingIOError:
                pass

    def _gt_wait(self, event, deadline, after_eagain=False):
        # After EAGAIN only a change of readiness matters: the hub can skip
        # re-checking the fd (see Hub.add_io).
        owner = self._gt_key if after_eagain else None
        if deadline is None:
            wait_fd(self.fileno(), event, None, owner)
            return
        remaining = deadline - _monotonic()
        if remaining <= 0 or not wait_fd(self.fileno(), event, remaining, owner):
            raise TimeoutError('timed out')

    # -- recv and recv_into: as _io_method's, plus the short-read guess
    def recv(self, bufsize, flags=0):
        if self._gt_drained:
            self._gt_wait_drained()
        try:
            data = _csock_recv(self, bufsize, flags)
        except BlockingIOError:
            if self._gt_timeout == 0.0 or flags & _DONTWAIT:
                raise
            data = self._gt_retry(_csock_recv, READ, (bufsize, flags))
        if self._gt_stream and not flags and 0 < len(data) < bufsize:
            self._gt_drained = True
        return data

    recv.__doc__ = _csock_recv.__doc__

    def recv_into(self, buffer, nbytes=0, flags=0):
        if self._gt_drained:
            self._gt_wait_drained()
        try:
            got = _csock_recv_into(self, buffer, nbytes, flags)
        except BlockingIOError:
            if self._gt_timeout == 0.0 or flags & _DONTWAIT:
                raise
            got = self._gt_retry(_csock_recv_into, READ, (buffer, nbytes, flags))
        if self._gt_stream and got and not flags and \
                got < (nbytes or (buffer.nbytes if buffer.__class__ is memoryview else len(buffer))):
            self._gt_drained = True
        return got

    recv_into.__doc__ = _csock_recv_into.__doc__

    def _gt_wait_drained(self):
        """The last read was short: wait for more before reading (blocking mode only).

        A guess, checked by the hub before it sleeps (Hub.add_io's ``unsure``),
        so a wrong one (urgent data, a message boundary) costs a turn, not a hang;
        a right one saves a read that would fail with EAGAIN.  A socket closed
        since waits for nothing: the read reports it, as CPython's would.
        """
        self._gt_drained = False
        fd = self.fileno()
        if self._gt_timeout is None and fd >= 0:
            wait_fd(fd, READ, None, self._gt_key, True)

    def accept(self):
        """Wait for a connection; return ``(conn, address)`` with a cooperative ``conn``."""
        fd, addr = self._accept()
        sock = socket(self.family, self.type, self.proto, fileno=fd)
        # As CPython: with no default timeout, the new socket blocks.
        if _std.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        return sock, addr

    def sendall(self, data, flags=0):
        """Send all of ``data``; the timeout bounds the whole call."""
        timeout = self._gt_timeout
        deadline = None if timeout is None else _monotonic() + timeout
        try:
            sent = _csock.send(self, data, flags)
            if data.__class__ is bytes and sent == len(data):
                return              # the usual case: no memoryview needed
        except BlockingIOError:
            if timeout == 0.0 or flags & _DONTWAIT:
                raise
            sent = -1               # wait first
        with memoryview(data) as view, view.cast('B') as byte_view:
            total = len(byte_view)
            if sent < 0:
                sent = 0
                self._gt_wait(WRITE, deadline, True)
            while sent < total:
                try:
                    sent += _csock.send(self, byte_view[sent:], flags)
                    continue
                except BlockingIOError:
                    if timeout == 0.0 or flags & _DONTWAIT:
                        raise
                self._gt_wait(WRITE, deadline, True)

    def connect(self, address):
        """Connect, parking until the connection is made (or refused, or timed out)."""
        err = self._gt_connect(address)
        if err:
            raise OSError(err, os.strerror(err))

    def connect_ex(self, address):
        """Like :meth:`connect`, but return an errno (0 on success) instead of raising."""
        try:
            return self._gt_connect(address)
        except TimeoutError:
            return errno.EAGAIN

    def _gt_connect(self, address):
        err = _csock.connect_ex(self, address)
        if err in (0, errno.EISCONN):
            return 0
        timeout = self._gt_timeout
        if err not in _IN_PROGRESS or timeout == 0.0:
            return err
        self._gt_wait(WRITE, None if timeout is None else _monotonic() + timeout)
        return self.getsockopt(SOL_SOCKET, SO_ERROR)

    def sendfile(self, file, offset=0, count=None):
        """Send a file's contents (through :meth:`send`, so cooperatively)."""
        return self._sendfile_use_send(file, offset, count)

    def _real_close(self, _ss=_csock):
        fd = self.fileno()
        if fd >= 0:
            hub = peek_hub()
            if hub is not None:
                hub.close_fd(fd)
        _ss.close(self)

    def detach(self):
        """Give up the descriptor without closing it; return it.

        Whoever takes it over (``multiprocessing.Pipe`` hands a socketpair's
        to ``os.read``/``os.write``) gets it in the mode a native socket
        would leave it in: blocking, unless a timeout or non-blocking mode
        was set.  Only while a green socket owns it is it non-blocking
        underneath.
        """
        if self._gt_timeout is None and self.fileno() >= 0:
            _csock.setblocking(self, True)
        return super().detach()

    def dup(self):
        """A new cooperative socket on a duplicate of the descriptor (same timeout)."""
        sock = socket(self.family, self.type, self.proto, fileno=_std.dup(self.fileno()))
        sock.settimeout(self.gettimeout())
        return sock


_IN_PROGRESS = {errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY}


def _io_method(name, event, flags_at):
    """``socket.name``: try the call at once; only on EAGAIN go and wait.

    ``flags_at(args)`` finds the call's flags: one that asked for
    MSG_DONTWAIT gets the EAGAIN, as natively.
    """
    method = getattr(_csock, name)

    def call(self, *args):
        try:
            return method(self, *args)
        except BlockingIOError:
            if self._gt_timeout == 0.0 or flags_at(args) & _DONTWAIT:
                raise
        return self._gt_retry(method, event, args)
    call.__name__ = name
    call.__qualname__ = f'socket.{name}'
    call.__doc__ = method.__doc__
    return call


_DONTWAIT = getattr(_socket, 'MSG_DONTWAIT', 0)


def _arg(index):
    # The flags argument at ``index`` of a call's positional arguments (0 if absent).
    return lambda args: args[index] if len(args) > index and isinstance(args[index], int) else 0


# Where each call takes its flags: recvfrom(bufsize, flags),
# recvfrom_into(buffer, nbytes, flags), recvmsg(bufsize, ancbufsize, flags),
# recvmsg_into(buffers, ancbufsize, flags), send(data, flags),
# sendto(data, [flags,] address), sendmsg(buffers, ancdata, flags, address).
for _name, _event, _flags_at in [
        ('_accept', READ, lambda args: 0), ('recvfrom', READ, _arg(1)),
        ('recvfrom_into', READ, _arg(2)), ('recvmsg', READ, _arg(2)),
        ('recvmsg_into', READ, _arg(2)), ('send', WRITE, _arg(1)),
        ('sendto', WRITE, lambda args: args[1] if len(args) == 3 and isinstance(args[1], int) else 0),
        ('sendmsg', WRITE, _arg(2))]:
    if hasattr(_csock, _name):
        setattr(socket, _name, _io_method(_name, _event, _flags_at))
del _name, _event, _flags_at

# ------------------------------------------------------- name resolution
# The resolver blocks in C, so it runs in the real-thread pool; a numeric
# address needs no lookup and is answered on the spot.
def _numeric(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        try:
            host = host.decode('idna')
        except UnicodeError:
            return False
    if not isinstance(host, str):
        return True          # let the real function raise its TypeError
    for family in (AF_INET, AF_INET6):
        try:
            _socket.inet_pton(family, host.split('%', 1)[0])
            return True
        except (OSError, ValueError):
            pass
    return False


_real_getaddrinfo = _std.getaddrinfo   # captured before any patching


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    """``socket.getaddrinfo``; a name lookup runs in a real thread, parking only the caller."""
    if _numeric(host):
        return _real_getaddrinfo(host, port, family, type, proto, flags)
    from ..pool import to_thread
    return to_thread(_real_getaddrinfo, host, port, family, type, proto, flags)


def _resolver(name):
    real = getattr(_std, name)   # captured at import, before any patching

    def resolve(*args):
        from ..pool import to_thread
        try:
            return to_thread(real, *args)
        except BaseException:
            del args      # the traceback keeps this frame, not the caller's arguments
            raise
    resolve.__name__ = resolve.__qualname__ = name
    resolve.__doc__ = f'``socket.{name}``, run in a real thread so only the caller waits.'
    return resolve


gethostbyname = _resolver('gethostbyname')
gethostbyname_ex = _resolver('gethostbyname_ex')
gethostbyaddr = _resolver('gethostbyaddr')
getnameinfo = _resolver('getnameinfo')
getfqdn = _resolver('getfqdn')
SocketType = _std.SocketType      # as in the stdlib: the C base type


def _wrap(sock):
    """Turn a stdlib socket into a cooperative one on the same descriptor."""
    timeout = sock.gettimeout()
    green = socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    green.settimeout(timeout)
    return green


def socketpair(family=None, type=SOCK_STREAM, proto=0):
    """A connected pair of cooperative sockets (AF_UNIX by default where available)."""
    a, b = _std.socketpair(family, type, proto)
    return _wrap(a), _wrap(b)


def fromfd(fd, family, type, proto=0):
    """A cooperative socket on a duplicate of ``fd``."""
    return _wrap(_std.fromfd(fd, family, type, proto))


def create_server(address, **kwargs):
    """The stdlib's create_server, returning a cooperative listening socket."""
    return _wrap(_std.create_server(address, **kwargs))


def _create_connection(address, timeout, source_address, all_errors):
    host, port = address
    exceptions = []
    for af, socktype, proto, _canon, sa in getaddrinfo(host, port, 0, SOCK_STREAM):
        sock = None
        try:
            sock = socket(af, socktype, proto)
            if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sa)
            exceptions.clear()
            return sock
        except error as exc:
            if not all_errors:
                exceptions.clear()   # raise only the last error
            exceptions.append(exc)
            if sock is not None:
                sock.close()
    if exceptions:
        try:
            if not all_errors:
                raise exceptions[0]
            raise ExceptionGroup('create_connection failed', exceptions)  # noqa: F821 (3.11+)
        finally:
            exceptions.clear()
    raise error('getaddrinfo returns an empty list')


if sys.version_info >= (3, 11):
    def create_connection(address, timeout=_GLOBAL_DEFAULT_TIMEOUT, source_address=None, *,
                          all_errors=False):
        """Connect to ``(host, port)``, trying each address; return a cooperative socket.

        Same contract as the stdlib function of the running Python.
        """
        return _create_connection(address, timeout, source_address, all_errors)
else:
    def create_connection(address, timeout=_GLOBAL_DEFAULT_TIMEOUT, source_address=None):
        """Connect to ``(host, port)``, trying each address; return a cooperative socket.

        Same contract as the stdlib function of the running Python.
        """
        return _create_connection(address, timeout, source_address, False)
