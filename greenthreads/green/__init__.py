"""Cooperative versions of blocking stdlib modules (socket, ...).

Each module here offers the stdlib module's API; its blocking calls park only
the calling green thread on the hub's poller.  ``greenthreads.monkey`` puts
them in place of the stdlib's.  Nothing here imports ``monkey``.
"""
