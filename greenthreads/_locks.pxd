# Cython declarations for _locks.py (the compiled build only; the .py is the source).
# Lock is final, as threading.Lock is (a factory before 3.13, a final type since).

cimport cython
from greenthreads._park cimport WaitQueue

@cython.final
cdef class Lock:
    cdef readonly set _free
    cdef public WaitQueue _waiters
    cdef object __weakref__
    cpdef acquire(self, blocking=*, timeout=*)
    cpdef release(self)

    cdef bint _take(self) except -1
    cdef _give(self)

cdef class RLock:
    cdef public dict _cell
    cdef public WaitQueue _waiters
    cdef object __weakref__

cdef object _watch
