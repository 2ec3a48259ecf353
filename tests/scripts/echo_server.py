"""An unmodified socketserver.ThreadingTCPServer echo server with N concurrent
keep-alive clients in the same process.  Plain stdlib code: run it under
``python -m greenthreads`` to get green threads and sockets.

    python -m greenthreads tests/scripts/echo_server.py N
"""
import resource
import socket
import socketserver
import sys
import threading
import time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
N = min(int(sys.argv[1]), (hard - 200) // 2)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        serving[0] += 1
        peak[0] = max(peak[0], serving[0])
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 4096


srv = Server(('127.0.0.1', 0), Echo)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
received = [0]
open_conns = []
serving = [0]       # connections the server is handling now
peak = [0]          # ... and at most, at any one time (none ends before the print)
# At most 64 clients are between connect() and their first echo (by which the
# server has accepted them), fewer than any listen backlog the kernel allows.
# N green clients connecting in one hub turn would overflow the backlog, and
# the kernel's SYN-flood handling (SYN cookies, dropped ACKs) then resets some
# of those connections: ECONNRESET in a client, seen once in CI with N = 5000
# and a backlog of 4096, and in half the runs with a backlog of 64.
connecting = threading.BoundedSemaphore(64)


def round_trip(s, i, j):
    msg = b'%d.%d|' % (i, j) * 8
    s.sendall(msg)
    buf = b''
    while len(buf) < len(msg):
        buf += s.recv(65536)
    assert buf == msg, (buf, msg)
    received[0] += len(buf)


def client(i):
    with connecting:
        s = socket.create_connection(('127.0.0.1', port))
        open_conns.append(s)             # all N stay open at once (keep-alive)
        round_trip(s, i, 0)
    for j in (1, 2):
        time.sleep(0.01)
        round_trip(s, i, j)


threads = [threading.Thread(target=client, args=(i,)) for i in range(N)]
for t in threads:
    t.start()
for t in threads:
    t.join()
expected = sum(len(b'%d.%d|' % (i, j) * 8) for i in range(N) for j in range(3))
natives = {t.native_id for t in threads}
print(N, received[0] == expected, peak[0], len(natives))
srv.shutdown()
srv.server_close()
for s in open_conns:
    s.close()
