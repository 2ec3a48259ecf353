"""greenthreads.debug: what every green thread is doing, and the deadlock report."""

import io

import greenthreads
from greenthreads import debug
from conftest import spawn


def _parked_on(target):
    """A green thread started on ``target`` that has run and parked in it."""
    t = spawn(target, daemon=True)
    greenthreads.sleep(0.01)
    return t


def _blocked_pair():
    lock = greenthreads.Lock()
    lock.acquire()
    event = greenthreads.Event()
    return lock, event, _parked_on(lambda: lock.acquire()), _parked_on(lambda: event.wait())


def _release(lock, event, *threads):
    lock.release()
    event.set()
    for t in threads:
        t.join()


def test_blocked_threads_lists_each_parked_thread_with_what_it_waits_on():
    lock, event, a, b = _blocked_pair()
    try:
        blocked = {thread: (waiter.reason, frame) for thread, waiter, frame in debug.blocked_threads()}
        assert set(blocked) == {a, b}           # not the running thread, not finished ones
        assert blocked[a][0] is lock and blocked[b][0] is event
        assert all(frame is not None for _, frame in blocked.values())
    finally:
        _release(lock, event, a, b)
    assert debug.blocked_threads() == []


def test_format_all_and_dump_all_give_every_thread_its_wait_and_stack():
    lock, event, a, b = _blocked_pair()
    try:
        text = debug.format_all()
        out = io.StringIO()
        debug.dump_all(out)
        names = [repr(x) for x in (greenthreads.main_thread(), a, lock, b, event)]
    finally:
        _release(lock, event, a, b)
    # (The running thread's own stack differs by the line it runs.)
    assert out.getvalue().split('\n\n', 1)[1] == text.split('\n\n', 1)[1] + '\n'
    chunks = text.split('\n\n')
    assert len(chunks) == 3                     # the main thread, a and b
    heads = [chunk.split('\n', 1)[0] for chunk in chunks]
    main, a, lock, b, event = names
    assert heads[0] == main                     # running: no wait
    assert f'{a} waiting on {lock}' in heads
    assert f'{b} waiting on {event}' in heads
    # The running thread's stack ends in this test, the parked ones in the wait.
    assert 'in test_format_all_and_dump_all_give_every_thread_its_wait_and_stack' in chunks[0]
    assert all('in <lambda>' in chunk for chunk in chunks[1:])
    # (Compiled, park() has no Python frame to show.)
    assert all(('in park' in chunk) != greenthreads.compiled for chunk in chunks[1:])


def test_deadlock_error_names_each_blocked_thread_and_where_it_waits():
    lock, event, a, b = _blocked_pair()
    try:
        message = str(debug.deadlock_error(None))
        expected = [f'  {a!r} waits on {lock!r}  [{__file__}:', f'  {b!r} waits on {event!r}  [{__file__}:']
    finally:
        _release(lock, event, a, b)
    lines = message.split('\n')
    assert lines[0] == 'every green thread is blocked and nothing can wake them:'
    # Each with where it waits: the innermost frame outside greenthreads.
    assert sorted(line[:line.rindex(':')] + ':' for line in lines[1:]) == sorted(expected)
