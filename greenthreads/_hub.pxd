# Cython declarations for _hub.py (the compiled build only; the .py is the source).

cdef class Hub:
    cdef public object root
    cdef public object greenlet
    cdef public object ready
    cdef public object timers
    cdef public object threadsafe_calls
    cdef public object main_calls
    cdef public object runners
    cdef public object on_deadlock
    cdef public object on_error
    cdef public object poller
    cdef public object wakeup
    cdef public object thread_ident
    cdef public bint is_main_os_thread
    cdef public object main_glet
    cdef public object main_waiter
    cdef public Py_ssize_t direct_budget
    cdef public Py_ssize_t outside_refs
    cdef public bint stalled
    cdef public Py_ssize_t turns
    cdef public object suspect
    cdef dict __dict__
    cdef object __weakref__
