# Cython declarations for _park.py (the compiled build only; the .py is the source).

from greenthreads._hub cimport Hub

cdef class WaitQueue

cdef class Waiter:
    cdef public object glet
    cdef public Hub hub
    cdef public object state
    cdef public object value
    cdef public object reason
    cdef public WaitQueue queue

cdef class WaitQueue:
    cdef public object entries
    cdef public Py_ssize_t _stale
    cdef public object mutex
