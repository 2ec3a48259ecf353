"""Cooperative TLS: ``SSLSocket`` on a cooperative socket.

The stdlib ``ssl.SSLSocket`` drives OpenSSL over a socket.  Ours is the same
class combined with the cooperative :class:`~greenthreads.green.socket.socket`:
the descriptor stays non-blocking whatever the timeout, so OpenSSL reports
"want read"/"want write", and each TLS operation (handshake, read, write, unwrap) parks on the
hub until the socket is ready, then retries, honouring the socket's timeout
like every other socket call.  ``SSLContext.wrap_socket`` builds ours once
the monkey patch has set ``SSLContext.sslsocket_class``.
"""

import ssl as _std

from .._poller import READ, WRITE
from . import socket as _green_socket

__all__ = ['SSLSocket']


class SSLSocket(_std.SSLSocket, _green_socket.socket):
    """``ssl.SSLSocket`` whose blocking TLS operations are cooperative."""

    # OpenSSL does the reads and writes: the descriptor must stay non-blocking.
    _gt_native_fd_mode = False

    def _gt_tls(self, operation, *args):
        timeout = self._gt_timeout
        deadline = None
        while True:
            try:
                return operation(*args)
            except (_std.SSLWantReadError, _std.SSLWantWriteError) as exc:
                if timeout == 0.0:
                    raise             # non-blocking mode: as CPython
                event = READ if isinstance(exc, _std.SSLWantReadError) else WRITE
            if timeout is not None and deadline is None:
                deadline = _green_socket._monotonic() + timeout
            # Not after_eagain: OpenSSL may want more without having seen EAGAIN.
            self._gt_wait(event, deadline)

    def do_handshake(self, block=False):
        """Perform the TLS handshake, parking while the peer has not answered."""
        return self._gt_tls(super().do_handshake, block)

    def read(self, len=1024, buffer=None):
        """Read up to ``len`` decrypted bytes (into ``buffer`` if given)."""
        return self._gt_tls(super().read, len, buffer)

    def write(self, data):
        """Encrypt and write ``data``; return the number of bytes written."""
        return self._gt_tls(super().write, data)

    def send(self, data, flags=0):
        """Send ``data`` (encrypted once the handshake is done)."""
        return self._gt_tls(super().send, data, flags)

    def unwrap(self):
        """Shut TLS down and return the underlying (cooperative) socket."""
        return self._gt_tls(super().unwrap)
