"""The recipe for a C library that blocks in C: call it through ``greenthreads.to_thread``.

The monkey patch makes the standard library's blocking calls park only the
calling green thread, but a C extension that waits inside C (for a device, a
lock, a server, or just a long computation) stops the whole OS thread, and
with it every green thread.  ``greenthreads.to_thread(fn, *args)`` runs the
call in a real OS thread and parks only the caller; it pays off when the C
code releases the GIL while it works, as zlib, hashlib, bz2, lzma and most
I/O-bound C libraries do.

Two stand-ins for such a library: the real ``time.sleep`` (what the monkey
patch replaced: ``greenthreads.monkey.get_original``), a C call that waits,
and ``zlib.compress`` on a large buffer, a C call that computes.  A ticker
thread counts how often it gets to run meanwhile.

    python -m greenthreads examples/c_library_to_thread.py
"""

import os
import threading
import time
import zlib

import greenthreads
import greenthreads.monkey

if not greenthreads.monkey.is_patched('threading'):   # run directly: patch here
    greenthreads.monkey.patch_all()

c_sleep = greenthreads.monkey.get_original('time', 'sleep')
data = os.urandom(1 << 20) * 16        # 16 MiB, barely compressible: ~0.5 s of zlib


def ticking_while(label, call):
    """Run ``call()`` in this thread while a ticker thread counts 10 ms ticks."""
    ticks = 0
    stop = threading.Event()

    def ticker():
        nonlocal ticks
        while not stop.wait(0.01):
            ticks += 1

    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.05)                   # let the ticker start
    ticks = 0
    start = time.monotonic()
    call()
    elapsed, during = time.monotonic() - start, ticks
    stop.set()
    t.join()
    print(f'{label:45s} {elapsed:5.2f} s, ticker ran {during:3d} times meanwhile')


ticking_while('C sleep, called directly (blocks everyone)', lambda: c_sleep(0.5))
ticking_while('C sleep, through to_thread', lambda: greenthreads.to_thread(c_sleep, 0.5))
ticking_while('zlib.compress, called directly', lambda: zlib.compress(data, 6))
ticking_while('zlib.compress, through to_thread', lambda: greenthreads.to_thread(zlib.compress, data, 6))
