"""``local``: attributes with a separate value in every green thread.

Layout (the same ownership as CPython's ``_thread._local``, so cycles through
a local's values stay collectable):

* each green thread that touches any local gets one ``_LocalToken``, kept on
  its greenlet and dropped when the thread finishes;
* each local owns ``{id(token): (weakref(token), values_dict)}``.  When a
  token dies (the thread ended) a weakref callback removes its entry, so the
  thread's values are freed with the thread; when the local dies, all its
  per-thread dicts go with it.

Attribute access does not swap ``__dict__`` in and out (the pure-Python
``_threading_local`` trick, which breaks when a property switches green
threads mid-access): it resolves names against the current thread's dict with
the normal precedence of data descriptors, instance values, then class
attributes.
"""

import weakref

from greenlet import getcurrent

from ._threads import thread_end_hooks

__all__ = ['local']

_MISSING = object()


class _LocalToken:
    """Stands for one green thread in every local it has touched."""
    __slots__ = ('__weakref__',)


class _LocalImpl:
    __slots__ = ('dicts', 'args', 'kw', '__weakref__')

    def __init__(self, args, kw):
        self.dicts = {}
        self.args = args
        self.kw = kw

    def create_dict(self, token):
        """Create (and register) the values dict of the thread ``token`` stands for."""
        key = id(token)
        wrimpl = weakref.ref(self)

        def thread_ended(_, key=key):
            impl = wrimpl()
            if impl is not None:
                impl.dicts.pop(key, None)

        values = {}
        self.dicts[key] = (weakref.ref(token, thread_ended), values)
        return values


def _current_token():
    g = getcurrent()
    try:
        return g._gt_local_token
    except AttributeError:
        token = g._gt_local_token = _LocalToken()
        return token


def _forget_token(glet):
    # The thread finished: its token dies, and with it its values in every local.
    glet.__dict__.pop('_gt_local_token', None)


thread_end_hooks.append(_forget_token)


_get_impl = None  # set below: the slot descriptor's getter


def _values(self):
    """The calling thread's values dict for local ``self`` (created, with __init__, on first use)."""
    impl = _get_impl(self)
    token = _current_token()
    entry = impl.dicts.get(id(token))
    if entry is not None:
        return entry[1]
    values = impl.create_dict(token)
    init = type(self).__init__
    if init is not object.__init__:
        init(self, *impl.args, **impl.kw)
    return values


def _type_lookup(cls, name):
    for base in cls.__mro__:
        attr = base.__dict__.get(name, _MISSING)
        if attr is not _MISSING:
            return attr
    return _MISSING


class local:
    """Thread-local data: ``mydata = local(); mydata.x = 1`` is seen only by this thread.

    Subclasses may define ``__init__``; it runs once per thread, with the
    arguments given to the constructor.
    """
    __slots__ = ('_local__impl', '__weakref__')

    def __new__(cls, /, *args, **kw):
        if (args or kw) and (cls.__init__ is object.__init__):
            raise TypeError('Initialization arguments are not supported')
        self = object.__new__(cls)
        impl = _LocalImpl(args, kw)
        object.__setattr__(self, '_local__impl', impl)
        # The constructing thread's dict; Python calls __init__ for it.
        impl.create_dict(_current_token())
        return self

    def __getattribute__(self, name):
        values = _values(self)
        if name == '__dict__':
            return values
        cls = type(self)
        attr = _type_lookup(cls, name)
        if attr is not _MISSING:
            kind = type(attr)
            if hasattr(kind, '__set__') or hasattr(kind, '__delete__'):
                return kind.__get__(attr, self, cls)
        try:
            return values[name]
        except KeyError:
            pass
        if attr is not _MISSING:
            get = getattr(type(attr), '__get__', None)
            if get is not None:
                return get(attr, self, cls)
            return attr
        raise AttributeError(f"'{cls.__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        values = _values_to_update(self, name)
        setter = _type_hook(self, name, '__set__')
        if setter is not None:
            setter(value)
        else:
            values[name] = value

    def __delattr__(self, name):
        values = _values_to_update(self, name)
        deleter = _type_hook(self, name, '__delete__')
        if deleter is not None:
            deleter()
            return
        try:
            del values[name]
        except KeyError:
            raise AttributeError(name) from None


def _values_to_update(self, name):
    if name == '__dict__':
        raise AttributeError(
            f"'{type(self).__name__}' object attribute '__dict__' is read-only")
    return _values(self)


def _type_hook(self, name, hook):
    """The type's data-descriptor ``hook`` ('__set__'/'__delete__') for ``name``, bound; or None."""
    attr = _type_lookup(type(self), name)
    if attr is not _MISSING:
        method = getattr(type(attr), hook, None)
        if method is not None:
            return lambda *args: method(attr, self, *args)
    return None


_get_impl = local.__dict__['_local__impl'].__get__
