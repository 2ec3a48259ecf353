"""An unmodified waitress app, served and called by many client threads.

    python tests/scripts/waitress_app.py            # natively
    python -m greenthreads tests/scripts/waitress_app.py

Prints what both runs must agree on: every response, sorted.
"""

import http.client
import threading
import time

import waitress


def app(environ, start_response):
    """Streams its reply in two parts, waiting between them (the main loop
    then finds the first part buffered while the task thread waits)."""
    body = environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
    reply = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {len(body)}".encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(reply)))])
    yield reply[:3]
    time.sleep(0.01)
    yield reply[3:]


def main(clients=40, requests=5):
    server = waitress.create_server(app, host='127.0.0.1', port=0, threads=4)
    port = server.socket.getsockname()[1]
    threading.Thread(target=server.run, daemon=True).start()
    results = []
    lock = threading.Lock()

    def client(n):
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
        for i in range(requests):     # keep-alive: one connection per client
            conn.request('POST', f'/c{n}/r{i}', body=b'x' * (n * 100 + i))
            resp = conn.getresponse()
            line = f'{resp.status} {resp.read().decode()} {resp.getheader("Server")}'
            with lock:
                results.append(line)
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.close()
    print(len(results), 'responses')
    print('\n'.join(sorted(results)))


if __name__ == '__main__':
    main()
