"""TLS under patch_all: handshakes, reads and writes park only the caller."""

from conftest import run_script, same_as_native


def test_tls_echo_with_many_clients_and_unwrap():
    proc = run_script('''
import greenthreads.monkey
greenthreads.monkey.patch_all()
import os, ssl, socket, threading, time, test
here = os.path.dirname(test.__file__)
certfile = next(p for p in (os.path.join(here, 'certdata', 'keycert.pem'),
                            os.path.join(here, 'keycert.pem')) if os.path.exists(p))
server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_ctx.load_cert_chain(certfile)
client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
client_ctx.check_hostname = False
client_ctx.verify_mode = ssl.CERT_NONE
listener = server_ctx.wrap_socket(socket.create_server(('127.0.0.1', 0)), server_side=True)
port = listener.getsockname()[1]

def handle(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data or data == b'STOP':
                break
            conn.sendall(data)
        if data == b'STOP':
            conn.unwrap().close()

def serve():
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
ok = []
def client(i, stop):
    s = client_ctx.wrap_socket(socket.create_connection(('127.0.0.1', port)))
    for j in range(5):
        msg = (b'%d.%d;' % (i, j)) * 300
        s.sendall(msg)
        buf = b''
        while len(buf) < len(msg):
            buf += s.recv(65536)
        ok.append(buf == msg)
    if stop:
        s.sendall(b'STOP')
        plain = s.unwrap()
        ok.append(isinstance(plain, socket.socket))
        plain.close()
    else:
        s.close()
t0 = time.monotonic()
ts = [threading.Thread(target=client, args=(i, i % 10 == 0)) for i in range(100)]
for t in ts: t.start()
for t in ts: t.join()
c = client_ctx.wrap_socket(socket.create_connection(('127.0.0.1', port)))
c.settimeout(0.05)
try:
    c.recv(10)
    timed_out = False
except TimeoutError:
    timed_out = True
print(len(ok), all(ok), isinstance(c, ssl.SSLSocket), type(c).__module__, timed_out,
      len({t.native_id for t in ts}))
''', timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['510', 'True', 'True', 'greenthreads.green.ssl', 'True', '1']


def test_non_blocking_tls_raises_want_read_and_want_write_as_natively():
    script = '''
import sys
if sys.argv[1] == 'patched':
    import greenthreads.monkey
    greenthreads.monkey.patch_all()
import ssl, socket
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
a, b = socket.socketpair()
a.setblocking(False)
tls = ctx.wrap_socket(a, do_handshake_on_connect=False)
for call in (tls.do_handshake, lambda: tls.recv(10)):
    try:
        call()
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, ssl.SSLError, OSError) as exc:
        print(type(exc).__name__)
'''
    assert same_as_native(script).split()[0] == 'SSLWantReadError'
