"""The real functions, captured before any monkey patching can replace them.

The bottom room: it imports only the stdlib, and is imported (through
``_hub``) before ``monkey`` can patch anything.  Whatever must keep working
as the OS provides it, whatever the patch did to the modules, comes from
here: the hub's own wake-up pipe must never park, the thread pool's workers
are real OS threads, and the hub's identity of an OS thread is the kernel's.
"""

import os
import select
import signal
import threading
import time
import _thread

__all__ = ['real_get_ident', 'real_get_native_id', 'real_start_new_thread', 'real_thread_count',
           'real_local', 'real_allocate_lock', 'real_rlock', 'real_select', 'real_epoll', 'real_poll',
           'real_sleep', 'real_signal', 'real_getsignal', 'os_read', 'os_write', 'os_sendfile',
           'os_waitpid', 'main_os_ident']

real_get_ident = _thread.get_ident
real_get_native_id = _thread.get_native_id
real_start_new_thread = _thread.start_new_thread
real_thread_count = _thread._count
real_local = _thread._local
real_allocate_lock = _thread.allocate_lock
real_rlock = _thread.RLock
real_select = select.select
real_epoll = getattr(select, 'epoll', None)   # the monkey patch removes it from select
real_poll = select.poll
real_sleep = time.sleep
real_signal = signal.signal
real_getsignal = signal.getsignal
os_read = os.read            # the monkey patch makes these cooperative
os_write = os.write
os_sendfile = getattr(os, 'sendfile', None)
os_waitpid = os.waitpid
#: The ident of the interpreter's main OS thread.
main_os_ident = threading.main_thread().ident
