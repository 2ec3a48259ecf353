# Cython declarations for _park.py (the compiled build only; the .py is the source).
# cpdef: calls from compiled code (this module, and modules that cimport these
# types) are C calls; Python callers see the same functions as before.

from greenthreads._hub cimport Hub

cdef class WaitQueue

cdef class Waiter:
    cdef public object glet
    cdef public Hub hub
    cdef public object state
    cdef public object value
    cdef public object reason
    cdef public WaitQueue queue

cpdef deliver(Waiter waiter)
cpdef bint _claim(Waiter waiter, state) except -1
cpdef park(Waiter waiter, timeout=*)

cdef class WaitQueue:
    cdef public object entries
    cdef public Py_ssize_t _stale
    cdef public object mutex

    cpdef wait(self, retry=*, timeout=*, reason=*, undo=*, expired=*)
    cpdef _withdraw(self, Waiter waiter)
    cpdef _forget(self, Waiter waiter)
    cpdef _drop(self, Waiter waiter)
    cpdef claim_next(self, value=*, deliver_now=*)
    cpdef claim(self, Waiter waiter, value=*)
    cpdef claim_all(self, value=*)
