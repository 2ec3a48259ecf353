"""I/O readiness: one poller class per backend, chosen once (:data:`DefaultPoller`).

A poller keeps, per file descriptor, who waits for it to become readable and
who for writable (an :class:`Interest`), and fires each waiter's callback
once when the fd is ready (or in error, or hung up: that fires both
directions, and the woken caller's next I/O call reports it).

* :class:`EpollPoller` (Linux): each fd is registered once, edge-triggered
  for both directions, and stays registered until :meth:`~Poller.close_fd`;
  an edge nobody waits for is simply dropped (whoever comes next tries the
  I/O call first, or re-arms).
* :class:`PollPoller` (elsewhere; also tested on Linux): ``poll(2)``,
  level-triggered, each fd registered only while somebody waits on it.

The hub owns one, registers its wake-up fd with :meth:`~Poller.watch_wakeup`
and calls :meth:`~Poller.poll`, which runs the callbacks inline.
"""

import select

from ._originals import real_epoll as _real_epoll, real_poll as _real_poll

__all__ = ['READ', 'WRITE', 'CHECK_READ', 'Interest', 'EpollPoller', 'PollPoller', 'Poller',
           'DefaultPoller', 'ready_now', 'MAX_TIMEOUT']

READ = 1
WRITE = 4  # the values of select.POLLIN / POLLOUT (and EPOLLIN / EPOLLOUT)

#: Anything a reader should look at: data, urgent data, hang-up, error, a closed fd.
CHECK_READ = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL
_POLL_ERRORS = select.POLLERR | select.POLLHUP | select.POLLNVAL

# epoll takes a float of seconds but converts to milliseconds in an int; keep
# every single poll well inside that range (the hub loops for longer waits).
MAX_TIMEOUT = 3600.0


def ready_now(fds, mask):
    """Those of ``fds`` that are ready for ``mask`` (or in error) right now: one poll(2), no wait."""
    checker = _real_poll()
    for fd in fds:
        checker.register(fd, mask)
    return [fd for fd, _ in checker.poll(0)]


class Interest:
    """Who waits on one fd: ``(callback, arg)`` handles per direction, and how it is registered.

    ``armed`` is None while the fd is not in the poller, True when it is, or
    the owner key it was registered under (see :meth:`Poller.add`).
    """
    __slots__ = ('readers', 'writers', 'armed')

    def __init__(self):
        self.readers = []
        self.writers = []
        self.armed = None


class Poller:
    """What every backend shares: the interests, their bookkeeping and firing."""

    #: poll events that fire readers / writers (errors and hang-ups fire both).
    READ_EVENTS = READ | _POLL_ERRORS
    WRITE_EVENTS = WRITE | _POLL_ERRORS

    def __init__(self):
        self._interests = {}       # fd -> Interest
        #: Interests added and not yet fired or withdrawn.
        self.waiting = 0
        self._unsure = set()       # fds whose readers parked on a guess (see add)
        self._wake_fd = None
        self._on_wakeup = None
        #: True once :meth:`close` gave the backend back.
        self.closed = False

    def watch_wakeup(self, fd, on_wakeup):
        """Call ``on_wakeup()`` from :meth:`poll` whenever ``fd`` (a pipe's read end) is readable."""
        self._wake_fd = fd
        self._on_wakeup = on_wakeup
        self._register(fd, READ)

    def add(self, fd, event, callback, arg=None, owner=None, unsure=False):
        """Call ``callback(arg)`` once, when ``fd`` is ready for ``event`` (READ or WRITE).

        The fd's readiness *now* counts: a ready fd fires at the next poll
        (this costs one syscall).  ``owner`` spares that syscall for an object
        that does I/O on ``fd`` and waits only after a call failed with EAGAIN
        (a socket): a key unique to that object, never reused.  Once the fd is
        registered under that key, only a change after the failed call
        counts, which is all such a caller needs.  Either way a callback may
        fire spuriously (retry the call, wait again).

        ``unsure`` (with ``owner``, READ only): the caller did not see EAGAIN
        but guesses the fd has nothing to read (a stream socket's last read
        came back short).  Before the poller next sleeps it checks such fds
        with one ``poll(2)`` for all of them and fires those that are
        readable, so a wrong guess (urgent data, a message boundary) costs a
        turn, not a hang.

        The callback runs inside the hub, at the poll that saw the event; it
        must not block.  The returned handle is passed to :meth:`remove` to
        withdraw interest before it fires.  An fd the poller refuses (a
        regular file: PermissionError) raises here and leaves nothing
        registered.
        """
        interest = self._interests.get(fd)
        if interest is None:
            interest = self._interests[fd] = Interest()
        handle = (callback, arg)
        waiting = interest.readers if event == READ else interest.writers
        waiting.append(handle)
        if unsure:
            self._unsure.add(fd)
        if owner is None or interest.armed is not owner:
            # A key seen before proves the registration is this owner's own
            # file: anything else (an fd closed and reused behind our back)
            # goes through the poller.
            try:
                self._arm(fd, interest, owner)
            except BaseException:
                waiting.remove(handle)
                if not interest.readers and not interest.writers and interest.armed is None:
                    del self._interests[fd]
                raise
        self.waiting += 1
        return handle

    def remove(self, fd, handle):
        """Withdraw one :meth:`add` interest (no-op if it already fired)."""
        interest = self._interests.get(fd)
        if interest is None:
            return
        for waiting in (interest.readers, interest.writers):
            try:
                waiting.remove(handle)
            except ValueError:
                continue
            self.waiting -= 1
            self._changed(fd, interest)
            return

    def close_fd(self, fd):
        """``fd`` is about to be closed: drop its interest; returns the handles that waited on it.

        The caller runs them (the hub puts them on its ready queue), so the
        woken green threads retry their call on the closed object and get
        the error plain Python would give them (EBADF), each in its own thread.
        """
        interest = self._interests.pop(fd, None)
        if interest is None:
            return ()
        handles = interest.readers + interest.writers
        self.waiting -= len(handles)
        if interest.armed is not None:
            try:
                self._backend.unregister(fd)
            except (OSError, ValueError, KeyError):
                pass
        return handles

    def interests_of(self, arg):
        """``(fd, event, handle)`` for each waiting handle whose argument is ``arg``."""
        return [(fd, event, handle)
                for fd, interest in list(self._interests.items())
                for event, waiting in ((READ, interest.readers), (WRITE, interest.writers))
                for handle in waiting if handle[1] is arg]

    def poll(self, timeout):
        """Wait up to ``timeout`` seconds (-1: no limit) and fire what is ready; returns how many events.

        May raise InterruptedError (a signal arrived; PEP 475 mostly retries for us).
        """
        guessed = self._check_unsure() if self._unsure else None
        events = self._wait(0.0 if guessed else timeout)
        if guessed:
            events += guessed
        interests = self._interests
        wake_fd = self._wake_fd
        read_events = self.READ_EVENTS
        write_events = self.WRITE_EVENTS
        # Inline: this runs once per event.
        for fd, ev in events:
            if fd == wake_fd:
                self._on_wakeup()
                continue
            interest = interests.get(fd)
            if interest is None:
                continue
            if ev & read_events and interest.readers:
                waiting = interest.readers
                interest.readers = []
                self.waiting -= len(waiting)
                for callback, arg in waiting:
                    callback(arg)
            if ev & write_events and interest.writers:
                waiting = interest.writers
                interest.writers = []
                self.waiting -= len(waiting)
                for callback, arg in waiting:
                    callback(arg)
            self._fired(fd, interest)
        return len(events)

    def close(self):
        """Release the backend's file descriptor (if it has one)."""
        self.closed = True

    def _check_unsure(self):
        """``(fd, READ)`` for each fd readers parked on a guess for that is readable now.

        The rest were not readable at this check, so from now on their edge
        (registered before the check) is what wakes them.
        """
        interests = self._interests
        fds = [fd for fd in self._unsure if fd in interests and interests[fd].readers]
        self._unsure.clear()
        if not fds:
            return None
        return [(fd, READ) for fd in ready_now(fds, CHECK_READ)] or None

    # What a backend provides.
    def _register(self, fd, mask):
        raise NotImplementedError

    def _arm(self, fd, interest, owner=None):
        """Make the backend report ``fd``'s readiness as it is now (one syscall)."""
        raise NotImplementedError

    def _changed(self, fd, interest):
        """An interest was withdrawn from ``fd``."""

    def _fired(self, fd, interest):
        """An event on ``fd`` fired its interest."""

    def _wait(self, timeout):
        raise NotImplementedError


class EpollPoller(Poller):
    """Edge-triggered epoll: each fd registered once, for both directions."""

    _EDGE = (select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
             if _real_epoll is not None else 0)
    READ_EVENTS = READ | (select.EPOLLRDHUP | select.EPOLLERR | select.EPOLLHUP
                          if _real_epoll is not None else 0)
    WRITE_EVENTS = WRITE | (select.EPOLLERR | select.EPOLLHUP if _real_epoll is not None else 0)

    def __init__(self):
        super().__init__()
        self._backend = _real_epoll()
        self._wait = self._backend.poll      # seconds, -1 for no limit: just what we pass

    def _register(self, fd, mask):
        self._backend.register(fd, mask)

    def _arm(self, fd, interest, owner=None):
        # (Re-)registering makes epoll check the fd's state at once.
        backend = self._backend
        if interest.armed is None:
            try:
                backend.register(fd, self._EDGE)
            except FileExistsError:       # still registered from before
                backend.modify(fd, self._EDGE)
        else:
            try:
                backend.modify(fd, self._EDGE)
            except FileNotFoundError:     # closed and reused behind our back
                backend.register(fd, self._EDGE)
        interest.armed = True if owner is None else owner

    def close(self):
        self.closed = True
        self._backend.close()


class PollPoller(Poller):
    """Level-triggered poll(2): an fd is registered only while somebody waits, so every change re-arms."""

    def __init__(self):
        super().__init__()
        self._backend = _real_poll()

    def _register(self, fd, mask):
        self._backend.register(fd, mask)

    def _wait(self, timeout):
        return self._backend.poll(None if timeout < 0 else timeout * 1000.0)

    def _arm(self, fd, interest, owner=None):
        mask = (READ if interest.readers else 0) | (WRITE if interest.writers else 0)
        backend = self._backend
        if not mask:
            del self._interests[fd]
            try:
                backend.unregister(fd)
            except (OSError, ValueError, KeyError):
                pass
        elif interest.armed is not None:
            backend.modify(fd, mask)
        else:
            backend.register(fd, mask)
            interest.armed = True

    _changed = _fired = _arm


#: The backend for this platform, chosen once.
DefaultPoller = EpollPoller if _real_epoll is not None else PollPoller
