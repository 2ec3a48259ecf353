"""A Flask application that calls a backend with ``requests`` (tests/test_gunicorn.py)."""

import os

import flask
import requests

app = flask.Flask(__name__)
_session = requests.Session()       # a pooled client, as applications keep one


@app.route('/proxy/<int:n>')
def proxy(n):
    reply = _session.get(f"{os.environ['BACKEND_URL']}/item/{n}", timeout=30)
    reply.raise_for_status()
    return flask.jsonify(item=reply.json(), worker=os.getpid())
