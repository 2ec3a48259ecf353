"""An unmodified http.server.ThreadingHTTPServer with N concurrent keep-alive
http.client connections in the same process (run under python -m greenthreads).
"""
import http.client
import http.server
import resource
import sys
import threading

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
N = min(int(sys.argv[1]), (hard - 200) // 2)
BODY = b'hello green world\n' * 10


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'        # keep-alive

    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 4096


srv = Server(('127.0.0.1', 0), Handler)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
ok = [0]
conns = []
barrier = threading.Barrier(N)
# At most 64 clients between connecting and their first answer (by which the
# server has accepted them): N connecting in one hub turn would overflow the
# listen backlog, and the kernel's SYN-flood handling then resets some
# connections (see echo_server.py).
connecting = threading.BoundedSemaphore(64)


def get(c):
    c.request('GET', '/')
    if c.getresponse().read() == BODY:
        ok[0] += 1


def client():
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    conns.append(c)
    with connecting:
        get(c)
    barrier.wait()                       # all N connections open at once
    get(c)


threads = [threading.Thread(target=client) for _ in range(N)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(N, ok[0] == 2 * N, len({t.native_id for t in threads}))
srv.shutdown()
srv.server_close()
for c in conns:
    c.close()
