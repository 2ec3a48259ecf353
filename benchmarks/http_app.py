"""The WSGI application of the ``http`` benchmark: wait 10 ms on I/O, return a small body.

The wait is ``time.sleep``: green under the greenthreads and gevent workers
(both patch it), a real sleep holding one of the worker's threads under
``gthread`` and ``sync`` (as a blocking backend call would).
"""

import time

BODY = b'ok: served after a 10 ms wait\n'


def app(environ, start_response):
    time.sleep(0.010)
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(BODY)))])
    return [BODY]
