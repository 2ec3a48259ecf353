# Cython declarations for _sync.py (the compiled build only; the .py is the source).

from greenthreads._park cimport WaitQueue

cdef class _EventState:
    cdef public bint _flag
    cdef public WaitQueue _waiters
    cdef object __weakref__
