"""Cooperative sockets: the ``socket`` module's API; blocking calls park only the caller.

:class:`socket` is a subclass of the stdlib ``socket.socket``.  The timeout
the user sets (``settimeout``/``setblocking``/``setdefaulttimeout``) is kept
here and applied while parked on the hub's poller; the descriptor is in the
mode a native socket's would be (blocking in blocking mode, non-blocking
with a timeout), and no call ever blocks the OS thread: reads and writes
pass ``MSG_DONTWAIT``, and accept and connect switch a blocking descriptor to
non-blocking for the one call.  So:

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
import _socket
import time

from .._hub import peek_hub
from .._poller import READ, WRITE
from .. import pool as _pool   # looked up at each call: to_thread can be replaced
from .._park import wait_fd
from .._compat import CREATE_CONNECTION_ALL_ERRORS

# Everything the stdlib module offers, with the blocking pieces replaced below.
from socket import *  # noqa: F401,F403  (constants, exceptions, getaddrinfo, ...)
from socket import _GLOBAL_DEFAULT_TIMEOUT

__all__ = list(_std.__all__)

_monotonic = time.monotonic
_csock = _socket.socket
_csock_type = _csock.type.__get__
_csock_recv = _csock.recv
_csock_recv_into = _csock.recv_into
_csock_send = _csock.send
_new_key = itertools.count(1).__next__


class socket(_std.socket):
    """A stdlib-compatible socket whose blocking calls are cooperative."""

    __slots__ = ('_gt_timeout', '_gt_key', '_gt_stream', '_gt_drained')

    #: Whether the descriptor's mode follows the timeout as natively.  Not
    #: for TLS (green.ssl): OpenSSL reads and writes the descriptor itself,
    #: and only a non-blocking one lets it say "want read" instead of blocking.
    _gt_native_fd_mode = True

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        super().__init__(family, type, proto, fileno)
        # What CPython would give a new socket: the default timeout, or
        # non-blocking mode when the type asked for it.
        self._gt_timeout = _csock.gettimeout(self)
        self._gt_set_mode()
        # Names this socket's registrations in the hub (see Poller.add).
        self._gt_key = _new_key()
        # A stream socket whose last read came back short has (very likely)
        # nothing more to read: its next blocking read waits first instead of
        # making a call that fails with EAGAIN.  See recv().
        self._gt_stream = _csock_type(self) == SOCK_STREAM
        self._gt_drained = False

    # -- the user-visible timeout.  The C object's own is None (the fd
    #    blocking) in blocking mode and 0.0 otherwise: never a positive one,
    #    with which C would wait in poll(2) itself.
    def _gt_set_mode(self):
        if self._gt_timeout is not None or not self._gt_native_fd_mode:
            _csock.setblocking(self, False)

    def settimeout(self, value):
        """Set the timeout: None blocks, 0 is non-blocking, > 0 is seconds."""
        _csock.settimeout(self, value)          # CPython's own validation, and the fd mode
        self._gt_timeout = _csock.gettimeout(self)
        self._gt_set_mode()

    def gettimeout(self):
        """The timeout in seconds, or None in blocking mode."""
        return self._gt_timeout

    def setblocking(self, flag):
        """Blocking (timeout None) or non-blocking (timeout 0.0) mode."""
        # Raises as CPython on a bad fd.
        _csock.setblocking(self, bool(flag) and self._gt_native_fd_mode)
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
        # re-checking the fd (see Poller.add).
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
            data = _csock_recv(self, bufsize,
                               flags | _DONTWAIT if flags.__class__ is int else _nowait(flags))
        except BlockingIOError:
            if self._gt_timeout == 0.0 or flags & _DONTWAIT:
                raise
            data = self._gt_retry(_csock_recv, READ, (bufsize, _nowait(flags)))
        if self._gt_stream and not flags and 0 < len(data) < bufsize:
            self._gt_drained = True
        return data

    recv.__doc__ = _csock_recv.__doc__

    def recv_into(self, buffer, nbytes=0, flags=0):
        if self._gt_drained:
            self._gt_wait_drained()
        try:
            got = _csock_recv_into(self, buffer, nbytes,
                                   flags | _DONTWAIT if flags.__class__ is int else _nowait(flags))
        except BlockingIOError:
            if self._gt_timeout == 0.0 or flags & _DONTWAIT:
                raise
            got = self._gt_retry(_csock_recv_into, READ, (buffer, nbytes, _nowait(flags)))
        if self._gt_stream and got and not flags and \
                got < (nbytes or (buffer.nbytes if buffer.__class__ is memoryview else len(buffer))):
            self._gt_drained = True
        return got

    recv_into.__doc__ = _csock_recv_into.__doc__

    def _gt_wait_drained(self):
        """The last read was short: wait for more before reading (blocking mode only).

        A guess, checked by the hub before it sleeps (Poller.add's ``unsure``),
        so a wrong one (urgent data, a message boundary) costs a turn, not a hang;
        a right one saves a read that would fail with EAGAIN.  A socket closed
        since waits for nothing: the read reports it, as CPython's would.
        """
        self._gt_drained = False
        fd = self.fileno()
        if self._gt_timeout is None and fd >= 0:
            wait_fd(fd, READ, None, self._gt_key, True)

    def send(self, data, flags=0):
        try:
            return _csock_send(self, data,
                               flags | _DONTWAIT if flags.__class__ is int else _nowait(flags))
        except BlockingIOError:
            if self._gt_timeout == 0.0 or flags & _DONTWAIT:
                raise
        return self._gt_retry(_csock_send, WRITE, (data, _nowait(flags)))

    send.__doc__ = _csock.send.__doc__

    def _accept(self):
        try:
            return _accept_nowait(self)
        except BlockingIOError:
            if self._gt_timeout == 0.0:
                raise
        return self._gt_retry(_accept_nowait, READ, ())

    _accept.__doc__ = _csock._accept.__doc__

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
        user_flags = flags
        flags = flags | _DONTWAIT if flags.__class__ is int else _nowait(flags)
        try:
            sent = _csock.send(self, data, flags)
            if data.__class__ is bytes and sent == len(data):
                return              # the usual case: no memoryview needed
        except BlockingIOError:
            if timeout == 0.0 or user_flags & _DONTWAIT:
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
                    if timeout == 0.0 or user_flags & _DONTWAIT:
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
        err = _nonblocking_call(self, _csock.connect_ex, address)
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
            try:
                _csock.setblocking(self, True)
            except OSError:
                pass        # not a descriptor (any more): nothing to hand over
        return super().detach()

    def dup(self):
        """A new cooperative socket on a duplicate of the descriptor (same timeout)."""
        sock = socket(self.family, self.type, self.proto, fileno=_std.dup(self.fileno()))
        sock.settimeout(self.gettimeout())
        return sock


_DONTWAIT = getattr(_socket, 'MSG_DONTWAIT', 0)
_index = __import__('operator').index


def _nowait(flags):
    """``flags`` with MSG_DONTWAIT: the call fails with EAGAIN instead of blocking the OS thread.

    A value C would refuse is passed on as it is, for C's own error.
    """
    if flags.__class__ is int:
        return flags | _DONTWAIT
    try:
        return _index(flags) | _DONTWAIT
    except TypeError:
        return flags


def _given(flags):
    """The flags the user gave, as an int (0 for a value C will refuse)."""
    try:
        return _index(flags)
    except TypeError:
        return 0


def _nonblocking_call(sock, method, *args):
    """``method(sock, *args)`` with the descriptor non-blocking for the call (accept, connect).

    They take no MSG_DONTWAIT; in blocking mode the descriptor is blocking,
    as natively, and is switched for just this call.
    """
    if _csock.gettimeout(sock) is not None:
        return method(sock, *args)
    _csock.setblocking(sock, False)
    try:
        return method(sock, *args)
    finally:
        _csock.setblocking(sock, True)


def _accept_nowait(sock):
    return _nonblocking_call(sock, _csock._accept)


_IN_PROGRESS = {errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY}


def _io_method(name, event, signature):
    """``socket.name``: try the call at once (MSG_DONTWAIT added); only on EAGAIN go and wait.

    ``signature(args)`` gives the call's arguments with MSG_DONTWAIT added to
    its flags (missing defaults filled in), and the flags the user gave: a
    call that asked for MSG_DONTWAIT itself gets the EAGAIN, as natively.
    """
    method = getattr(_csock, name)

    def call(self, *args):
        args, flags = signature(args)
        try:
            return method(self, *args)
        except BlockingIOError:
            if self._gt_timeout == 0.0 or flags & _DONTWAIT:
                raise
        return self._gt_retry(method, event, args)
    call.__name__ = name
    call.__qualname__ = f'socket.{name}'
    call.__doc__ = method.__doc__
    return call


def _flags_at(index, defaults):
    """The signature of a call taking its flags as positional argument ``index``.

    ``defaults`` are C's values for the optional arguments just before the
    flags.  A call with too few or too many arguments goes to C unchanged,
    for C's own error.
    """
    required = index - len(defaults)

    def signature(args):
        given = len(args)
        if given < required or given > index + 1:
            return args, 0
        if given <= index:
            return args + defaults[given - required:] + (_DONTWAIT,), 0
        flags = args[index]
        return args[:index] + (_nowait(flags),), _given(flags)
    return signature


def _sendto_signature(args):
    # sendto(data, address) or sendto(data, flags, address)
    if len(args) == 2:
        return (args[0], _DONTWAIT, args[1]), 0
    if len(args) == 3:
        flags = args[1]
        return (args[0], _nowait(flags), args[2]), _given(flags)
    return args, 0


def _sendmsg_signature(args):
    # sendmsg(buffers[, ancdata[, flags[, address]]])
    if not 1 <= len(args) <= 4:
        return args, 0
    flags = args[2] if len(args) > 2 else 0
    ancdata = args[1] if len(args) > 1 else ()
    return (args[0], ancdata, _nowait(flags)) + args[3:], _given(flags)


for _name, _event, _signature in [
        ('recvfrom', READ, _flags_at(1, ())),                 # recvfrom(bufsize[, flags])
        ('recvfrom_into', READ, _flags_at(2, (0,))),          # recvfrom_into(buffer[, nbytes[, flags]])
        ('recvmsg', READ, _flags_at(2, (0,))),                # recvmsg(bufsize[, ancbufsize[, flags]])
        ('recvmsg_into', READ, _flags_at(2, (0,))),           # recvmsg_into(buffers[, ancbufsize[, flags]])
        ('sendto', WRITE, _sendto_signature),
        ('sendmsg', WRITE, _sendmsg_signature)]:
    if hasattr(_csock, _name):
        setattr(socket, _name, _io_method(_name, _event, _signature))
del _name, _event, _signature

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
    return _pool.to_thread(_real_getaddrinfo, host, port, family, type, proto, flags)


def _resolver(name):
    real = getattr(_std, name)   # captured at import, before any patching

    def resolve(*args):
        try:
            return _pool.to_thread(real, *args)
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


if CREATE_CONNECTION_ALL_ERRORS:
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
