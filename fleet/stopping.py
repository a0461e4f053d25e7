"""Stopping a run on request: first after the current step, then at once.

The first request (Ctrl-C or SIGTERM) lets no new host start and stops every running
host after the step it is in: steps are idempotent, so a re-run finishes the job.  The
second abandons the commands in flight: every live connection is closed, which wakes
each worker's read at once, and the hosts are reported interrupted in the step they
were in.  Either way the run ends with a report.

Requests arrive in a signal handler, which runs on the main thread between any two
bytecodes, possibly while that thread holds a lock.  So :class:`StopRequest` only sets
events; the closing happens on the thread of the scheduler's :class:`LiveConnections`.
"""

from __future__ import annotations

import contextlib
import threading
from enum import IntEnum
from types import TracebackType
from typing import Protocol


class Stage(IntEnum):
    """How far a stop request has gone."""

    RUNNING = 0
    AFTER_STEP = 1  # no new host; running hosts stop after their current step
    AT_ONCE = 2  # the commands in flight are abandoned too


class StopRequest:
    """The run's stop request, raised one stage per signal; safe to raise in a signal handler."""

    def __init__(self) -> None:
        self._after_step = threading.Event()
        self._at_once = threading.Event()
        self._wakers: list[threading.Event] = []

    def escalate(self) -> Stage:
        """One more signal: the first stops after the current step, any later one at once."""
        if self._after_step.is_set():
            self.at_once()
            return Stage.AT_ONCE
        self._after_step.set()
        return Stage.AFTER_STEP

    def at_once(self) -> None:
        self._after_step.set()
        self._at_once.set()
        for waker in tuple(self._wakers):
            waker.set()

    @property
    def stopping(self) -> bool:
        """No new host may start, and no running host may start another step."""
        return self._after_step.is_set()

    @property
    def abandoning(self) -> bool:
        """The commands in flight are being abandoned."""
        return self._at_once.is_set()

    def wake_on_abandon(self, waker: threading.Event) -> None:
        """Set ``waker`` when the request reaches :attr:`Stage.AT_ONCE` (at once if it has)."""
        self._wakers.append(waker)
        if self._at_once.is_set():
            waker.set()

    def forget(self, waker: threading.Event) -> None:
        with contextlib.suppress(ValueError):
            self._wakers.remove(waker)


class Abandonable(Protocol):
    """A connection whose transport can be closed from any thread."""

    def abandon(self) -> None: ...


class LiveConnections:
    """The connections of the hosts running now, abandoned together when the request says so.

    The scheduler owns one per run and uses it as a context manager: its thread waits
    for the request to reach :attr:`Stage.AT_ONCE` and then closes every connection
    known, each on a thread of its own (a connection through a jump host closes with a
    send, which must not hold up the others).  A connection added after that is
    abandoned as it is added, so a host that was still connecting cannot slip through.
    """

    def __init__(self, request: StopRequest) -> None:
        self._request = request
        self._lock = threading.Lock()
        self._open: dict[int, Abandonable] = {}
        self._abandoned = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LiveConnections:
        self._request.wake_on_abandon(self._wake)
        self._thread = threading.Thread(target=self._watch, name="fleet-stop", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._request.forget(self._wake)
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def add(self, connection: Abandonable) -> None:
        with self._lock:
            if not self._abandoned:
                self._open[id(connection)] = connection
                return
        _abandon_soon(connection)

    def discard(self, connection: Abandonable) -> None:
        with self._lock:
            self._open.pop(id(connection), None)

    def _watch(self) -> None:
        self._wake.wait()
        if not self._request.abandoning:
            return  # the run ended first
        with self._lock:
            self._abandoned = True
            connections, self._open = list(self._open.values()), {}
        for connection in connections:
            _abandon_soon(connection)


def _abandon_soon(connection: Abandonable) -> None:
    threading.Thread(target=connection.abandon, name="fleet-abandon", daemon=True).start()
