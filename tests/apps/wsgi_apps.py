"""WSGI applications that tests/test_gunicorn.py serves with real gunicorn."""

import os
import time


def app(environ, start_response):
    """``/``: ``hello PID``; ``/sleep/S``: waits S seconds (green, under the
    worker), then ``slept S PID``; ``/spin/S``: holds the OS thread S seconds;
    ``/echo``: the request body back; ``/file``: this file through
    ``wsgi.file_wrapper``; ``/chunks/N``: N chunks of a streamed body.  PID:
    the worker's."""
    path = environ['PATH_INFO']
    parts = path.strip('/').split('/')
    if parts[0] == '':
        body = b'hello %d' % os.getpid()
    elif parts[0] == 'sleep':
        time.sleep(float(parts[1]))
        body = b'slept %s %d' % (parts[1].encode(), os.getpid())
    elif parts[0] == 'spin':
        end = time.monotonic() + float(parts[1])
        while time.monotonic() < end:       # CPU: no switch for this long
            pass
        body = b'spun %d' % os.getpid()
    elif parts[0] == 'echo':
        body = environ['wsgi.input'].read()
    elif parts[0] == 'file':
        f = open(__file__, 'rb')
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(os.path.getsize(__file__)))])
        return environ['wsgi.file_wrapper'](f, 8192)
    elif parts[0] == 'chunks':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return (b'chunk %d\n' % i for i in range(int(parts[1])))
    else:
        start_response('404 Not Found', [('Content-Length', '0')])
        return [b'']
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
