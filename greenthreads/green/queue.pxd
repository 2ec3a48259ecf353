# Cython declarations for queue.py (the compiled build only; the .py is the source).
# Queue itself subclasses the stdlib's Python class, so it cannot be an extension
# type; its state and hot methods live in _QueueCore, an extension type it also
# derives from (instances keep a __dict__, from the Python classes).

from greenthreads._locks cimport Lock
from greenthreads._park cimport WaitQueue

cdef bint _SHUTDOWN

cdef Lock _lock_of(object cm)
cdef _notify(object cond, object checked)

cdef class _QueueCore:
    cdef public object maxsize, queue, mutex, not_empty, not_full, all_tasks_done, unfinished_tasks
    cdef bint _gt_typed, _gt_plain
    cdef object _gt_not_full, _gt_not_empty
    cdef Lock _gt_lock

    cdef _gt_put(self, item, block, timeout)
    cdef _gt_get(self, block, timeout)
    cdef Lock _gt_fast_lock(self)
    cdef _gt_qsize(self)
    cdef bint _gt_empty(self) except -1
