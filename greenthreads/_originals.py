"""The real functions, captured before any monkey patching can replace them.

The bottom room: it imports only the stdlib, and is imported (through
``_hub``) before ``monkey`` can patch anything.  Whatever must keep working
as the OS provides it, whatever the patch did to the modules, comes from
here: the hub's own wake-up pipe must never park, the thread pool's workers
are real OS threads, and the hub's identity of an OS thread is the kernel's.
"""

import os
import select
import threading
import _thread

__all__ = ['real_get_ident', 'real_start_new_thread', 'real_thread_count', 'real_local',
           'real_allocate_lock', 'real_rlock', 'real_epoll', 'real_poll', 'os_read',
           'os_write', 'main_os_ident']

real_get_ident = _thread.get_ident
real_start_new_thread = _thread.start_new_thread
real_thread_count = _thread._count
real_local = _thread._local
real_allocate_lock = _thread.allocate_lock
real_rlock = _thread.RLock
real_epoll = getattr(select, 'epoll', None)   # the monkey patch removes it from select
real_poll = select.poll
os_read = os.read            # the monkey patch makes these cooperative
os_write = os.write
#: The ident of the interpreter's main OS thread.
main_os_ident = threading.main_thread().ident
