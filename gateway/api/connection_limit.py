"""How many connections the API holds at once, and what it does when it cannot accept more.

Every connection holds a file descriptor, and the process shares its open-files limit with the
cameras, the model files, the outbox and the MQTT socket. Unbounded, a client opening idle
connections took every descriptor: cameras could not open their files, a model reload failed, and
the event loop's accept failed silently (uvloop's libuv accepts and closes such connections itself,
asyncio's loop logged a traceback a second). So:

- The API holds at most ``cap`` connections; one accepted beyond that is closed at once, before any
  object of the front door is made for it (nginx's ``worker_connections``), and counted in
  ``edge_gateway_http_connections_refused_total{reason="limit"}``. The cap is derived, not set:
  three quarters of the descriptors below 1024 (``FD_SETSIZE``) that the open-files limit allows,
  so that the rest of the gateway keeps a quarter (at least ``RESERVE_MIN``) even when the limit is
  systemd's default 1024, and so that the API alone never pushes a descriptor's number past 1023,
  which ``select()`` cannot watch: paho-mqtt waits on its socket with ``select()``, and its
  reconnects would fail while the API held the low numbers. A connection refused costs the accept,
  an attribute read and the close (the front door's ``__call__``).
- Running out of descriptors is found by the accept's own error where the loop reports it
  (asyncio's ``socket.accept() out of system resource``) and by a look once a second (uvloop's
  accept reports nothing): a descriptor duplicated and closed at once.

Either is logged once when it begins and once when it ends (``RECENT_S`` without one, with how many
there were), not per connection, and is a ``/v1/status`` problem while it lasts and for ``RECENT_S``
after, so a client that reaches the API between two refusals sees it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import time
from collections.abc import Callable

from prometheus_client import Counter

logger = logging.getLogger(__name__)

FD_SETSIZE = 1024
"""The descriptors ``select()`` can watch: numbers 0 to 1023 (glibc's FD_SETSIZE)."""
RESERVE_MIN = 64
"""Descriptors always left to the rest of the gateway: a serve with eight file cameras, its models
loaded and its outbox open holds 36."""
MIN_CONNECTIONS = 8
RECENT_S = 10.0
"""How long a refusal or a failed look stays a ``/v1/status`` problem."""
LOOK_INTERVAL_S = 1.0
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})
ACCEPT_FAILED = "socket.accept() out of system resource"
"""The message asyncio's loop reports a failed accept with (selector_events.py)."""


def open_files_limit() -> int:
    """The process's soft RLIMIT_NOFILE; ``FD_SETSIZE`` when it is unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return FD_SETSIZE if soft == resource.RLIM_INFINITY else int(soft)


def derived_cap(limit: int) -> int:
    """The most connections the API holds under an open-files limit of ``limit`` (module docstring)."""
    budget = min(limit, FD_SETSIZE)
    return max(MIN_CONNECTIONS, budget - max(RESERVE_MIN, budget // 4))


class Episode:
    """A stretch of refusals of one cause: logged when it begins and when it ends, a problem while
    recent."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.count = 0
        """Refusals in the current stretch; 0 when none is under way."""
        self.last = -RECENT_S
        self._began = 0.0

    def happened(self) -> bool:
        """One more refusal; True when it begins a stretch."""
        now = self._clock()
        self.last = now
        self.count += 1
        if self.count == 1:
            self._began = now
            return True
        return False

    def recent(self) -> bool:
        return self.count > 0 and self._clock() - self.last < RECENT_S

    def ended(self) -> tuple[int, float] | None:
        """Close the stretch under way: how many were refused and over how long, or None."""
        if not self.count:
            return None
        ended = (self.count, self.last - self._began)
        self.count = 0
        return ended


class ConnectionLimit:
    """The API's connection cap and the descriptor watch (module docstring); one per app."""

    def __init__(
        self, refused: Counter, limit: int | None = None, clock: Callable[[], float] = time.monotonic
    ):
        self.limit = open_files_limit() if limit is None else limit
        self.cap = derived_cap(self.limit)
        self._refused = refused.labels("limit")
        self._clock = clock
        self._at_cap = Episode(clock)
        self._out = Episode(clock)
        self._look: asyncio.TimerHandle | None = None
        self._probe_fd = -1

    def refuse(self) -> None:
        """A connection was closed at the cap."""
        self._refused.inc()
        if self._at_cap.happened():
            logger.warning(
                "HTTP API at its limit of %d connections (from the open-files limit %d): new "
                "connections are closed until some end (counted in "
                "edge_gateway_http_connections_refused_total)",
                self.cap,
                self.limit,
            )

    def accepted(self) -> None:
        """A connection was accepted under the cap: a stretch of refusals under way ends once none
        came for ``RECENT_S`` (so that a client at the cap, whose connections alternate with others
        ending, is not logged per connection). Per connection: one attribute read when none is."""
        if self._at_cap.count and self._clock() - self._at_cap.last >= RECENT_S:
            self._end(self._at_cap, "HTTP API accepts connections again: %d closed at the limit over %.0f s")

    def out_of_descriptors(self, error: OSError) -> None:
        """The process could not open a descriptor (``EMFILE``, ``ENFILE``)."""
        if self._out.happened():
            logger.error(
                "out of file descriptors (%s; open-files limit %d): new HTTP API connections are "
                "reset, files and sockets cannot be opened",
                os.strerror(error.errno or errno.EMFILE),
                open_files_limit(),
            )

    def problems(self) -> list[str]:
        """What ``/v1/status`` lists while a stretch is recent."""
        problems = []
        if self._at_cap.recent():
            problems.append(
                f"HTTP API at its limit of {self.cap} connections: {self._at_cap.count} new connections "
                f"closed (open-files limit {self.limit}; clients holding connections open?)"
            )
        if self._out.recent():
            problems.append(
                f"out of file descriptors (open-files limit {open_files_limit()}): new HTTP API "
                "connections are reset, files and sockets cannot be opened"
            )
        return problems

    def watch(self, probe_fd: int) -> None:
        """Look once a second whether a descriptor can be opened (duplicating ``probe_fd``, the
        listening socket's); on the running loop, until ``stop``."""
        self._probe_fd = probe_fd
        self._look = asyncio.get_running_loop().call_later(LOOK_INTERVAL_S, self._look_now)

    def stop(self) -> None:
        if self._look is not None:
            self._look.cancel()
            self._look = None

    def loop_error(self, context: dict[str, object]) -> bool:
        """Take a failed accept the loop reports (asyncio's, once a second while it lasts) as one of
        the stretch this logs once; False for anything else, which the loop's handler logs."""
        error = context.get("exception")
        if (
            context.get("message") == ACCEPT_FAILED
            and isinstance(error, OSError)
            and error.errno in EXHAUSTED
        ):
            self.out_of_descriptors(error)
            return True
        return False

    def _look_now(self) -> None:
        loop = asyncio.get_running_loop()
        self._look = loop.call_later(LOOK_INTERVAL_S, self._look_now)
        try:
            os.close(os.dup(self._probe_fd))
        except OSError as error:
            if error.errno in EXHAUSTED:
                self.out_of_descriptors(error)
            return
        if self._out.count and self._clock() - self._out.last >= RECENT_S:
            self._end(self._out, "file descriptors can be opened again (none at %d looks over %.0f s)")

    def _end(self, episode: Episode, message: str) -> None:
        ended = episode.ended()
        if ended is not None:
            logger.warning(message, ended[0], ended[1])
