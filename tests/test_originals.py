"""The real functions: captured before any patching, and still the OS's after it."""

import os
import select
import signal
import time
import _thread

from greenthreads import _originals
from conftest import run_script


def test_every_capture_is_the_stdlib_function_before_patching():
    assert _originals.real_get_ident is _thread.get_ident
    assert _originals.real_get_native_id is _thread.get_native_id
    assert _originals.real_start_new_thread is _thread.start_new_thread
    assert _originals.real_allocate_lock is _thread.allocate_lock
    assert _originals.real_rlock is _thread.RLock
    assert _originals.real_local is _thread._local
    assert _originals.real_thread_count is _thread._count
    assert _originals.real_select is select.select
    assert _originals.real_poll is select.poll
    assert _originals.real_epoll is getattr(select, 'epoll', None)
    assert _originals.real_sleep is time.sleep
    assert _originals.real_signal is signal.signal
    assert _originals.real_getsignal is signal.getsignal
    assert _originals.os_read is os.read and _originals.os_write is os.write
    assert _originals.os_sendfile is getattr(os, 'sendfile', None)
    assert _originals.os_waitpid is os.waitpid
    # (Names starting with '@' are pytest's: it rewrites the asserts of a
    # plugin's package, and greenthreads is one, see greenthreads.testing.)
    assert set(_originals.__all__) == {n for n in vars(_originals)
                                       if not n.startswith(('_', '@')) and n not in
                                       ('os', 'select', 'signal', 'threading', 'time')}


def test_after_patch_all_the_captures_are_still_the_real_ones():
    proc = run_script(r"""
        import greenthreads.monkey
        greenthreads.monkey.patch_all()
        import os, select, time, _thread, threading
        from greenthreads import _originals as o
        print(time.sleep is not o.real_sleep, os.read is not o.os_read,
              _thread.get_ident is not o.real_get_ident, select.select is not o.real_select)
        print(type(o.real_allocate_lock()).__module__, o.real_get_native_id() == threading.get_native_id(),
              o.main_os_ident == o.real_get_ident())
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split('\n')[:2] == ['True True True True', '_thread True True']
