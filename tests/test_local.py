"""local: per-thread attributes, subclasses with __init__ arguments, lifetime."""

import gc
import weakref

import pytest

import greenthreads


def _in_thread(mod, fn, *args):
    out = []
    t = mod.Thread(target=lambda: out.append(fn(*args)))
    t.start()
    t.join()
    return out[0]


def test_values_are_per_thread(mod):
    data = mod.local()
    data.x = 'main'
    assert _in_thread(mod, lambda: getattr(data, 'x', 'absent')) == 'absent'

    def set_and_read():
        data.x = 'worker'
        return data.x
    assert _in_thread(mod, set_and_read) == 'worker'
    assert data.x == 'main'


def test_values_stay_apart_across_switches():
    data = greenthreads.local()
    out = []

    def worker(i):
        data.v = i
        greenthreads.sleep(0.001)
        out.append((i, data.v))
    threads = [greenthreads.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == [(i, i) for i in range(50)]


def test_arguments_without_init_are_rejected(mod):
    with pytest.raises(TypeError, match='Initialization arguments are not supported'):
        mod.local(1)
    with pytest.raises(TypeError, match='Initialization arguments are not supported'):
        mod.local(a=1)


def test_subclass_init_runs_once_per_thread_with_the_arguments(mod):
    calls = []

    class MyLocal(mod.local):
        default = 'class attr'

        def __init__(self, a, b=2):
            calls.append((a, b))
            self.a = a
            self.b = b

        def total(self):
            return self.a + self.b

    data = MyLocal(1, b=5)
    assert calls == [(1, 5)]
    assert data.total() == 6
    data.a = 100
    assert _in_thread(mod, lambda: (data.a, data.total(), data.default)) == (1, 6, 'class attr')
    assert calls == [(1, 5), (1, 5)]
    assert data.a == 100


def test_dict_is_per_thread_and_read_only(mod):
    data = mod.local()
    data.x = 1
    assert data.__dict__ == {'x': 1}
    assert _in_thread(mod, lambda: data.__dict__) == {}
    with pytest.raises(AttributeError):
        data.__dict__ = {}


def test_missing_attribute_and_delete(mod):
    data = mod.local()
    with pytest.raises(AttributeError):
        data.nope
    data.y = 1
    del data.y
    with pytest.raises(AttributeError):
        del data.y


def test_descriptors_on_subclasses(mod):
    class WithProperty(mod.local):
        @property
        def doubled(self):
            return self.x * 2

        @doubled.setter
        def doubled(self, value):
            self.x = value // 2

    data = WithProperty()
    data.doubled = 10
    assert data.x == 5 and data.doubled == 10
    assert _in_thread(mod, lambda: hasattr(data, 'x')) is False


def test_getattr_fallback(mod):
    class Fallback(mod.local):
        def __getattr__(self, name):
            return 'fallback:' + name
    data = Fallback()
    data.real = 1
    assert data.real == 1
    assert data.other == 'fallback:other'


class _Obj:
    pass


def test_values_are_freed_when_their_thread_ends(mod):
    data = mod.local()
    refs = []

    def worker():
        obj = _Obj()
        refs.append(weakref.ref(obj))
        data.obj = obj
    threads = [mod.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    del t
    gc.collect()
    assert [r() for r in refs] == [None] * 10
    assert threads  # the Thread objects themselves are still alive


def test_values_are_freed_when_the_local_dies(mod):
    data = mod.local()
    obj = _Obj()
    data.obj = obj
    ref = weakref.ref(obj)
    del obj, data
    gc.collect()
    assert ref() is None


def test_cycle_through_local_is_collected(mod):
    data = mod.local()
    data.me = data
    ref = weakref.ref(data)
    del data
    gc.collect()
    assert ref() is None


def test_value_survives_a_property_that_switches():
    # The dict-swapping trick of _threading_local breaks here; ours does not.
    class Switchy(greenthreads.local):
        @property
        def slow(self):
            greenthreads.sleep(0.001)
            return self.v

    data = Switchy()
    out = []

    def worker(i):
        data.v = i
        out.append((i, data.slow))
    threads = [greenthreads.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == [(i, i) for i in range(20)]
