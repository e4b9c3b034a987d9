"""Drops the rest of a refused request's body inside the kernel, never copying it into the process.

A client that does not ask ``Expect: 100-continue`` sends its whole body whatever the answer, and the
server must read it to its end to keep the connection (closing with unread data risks the client
seeing a reset instead of the 503: RFC 9112, 9.6). Under overload that is most requests: at 3x
capacity, 120-155 refused 1.2 MB bodies a second. Read through the transport, each body is copied into
Python bytes objects a chunk at a time, each chunk a callback, only to be dropped; ``recv`` with
``MSG_TRUNC`` on a TCP socket (Linux, tcp(7)) drops the bytes where they lie.

Each connection that has a body to drop gets a duplicate of its socket, kept while it lives. What of
the body is there already is dropped at once; for the rest the transport's reading is paused and the
duplicate watched instead, so the transport never sees the dropped bytes, and whatever follows the
body (the client's next request) stays in the socket for the transport when it resumes. Where
``MSG_TRUNC`` is not there for TCP, ``available()`` is False and the front door drops bodies as they
arrive.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable

SCRATCH_BYTES = 256 * 1024
"""``recv_into`` wants a buffer as long as the bytes it may take, though MSG_TRUNC writes none."""
FLAGS = getattr(socket, "MSG_TRUNC", 0) | getattr(socket, "MSG_DONTWAIT", 0)


def available() -> bool:
    return sys.platform == "linux" and hasattr(socket, "MSG_TRUNC")


class BodyDrain:
    """One connection's drain (``of``): ``drop(count, done)`` drops its next ``count`` bytes and
    calls ``done(True)``, or ``done(False)`` when the client closed or reset the connection first."""

    def __init__(self, transport: asyncio.Transport, duplicate: socket.socket, scratch: bytearray) -> None:
        self._transport = transport
        self._socket: socket.socket | None = duplicate
        self._scratch = scratch
        self._remaining = 0
        self._done: Callable[[bool], None] | None = None
        self._watching = False

    @classmethod
    def of(cls, transport: asyncio.Transport, scratch: bytearray) -> BodyDrain | None:
        """None for a transport that cannot be drained below itself (no socket, or TLS)."""
        raw = transport.get_extra_info("socket")
        if raw is None or transport.get_extra_info("sslcontext") is not None:
            return None
        # A duplicate shares the connection (and its non-blocking mode) but not the transport's
        # registration with the loop, which would refuse a second reader on the same descriptor.
        return cls(transport, socket.socket(fileno=os.dup(raw.fileno())), scratch)

    def drop(self, count: int, done: Callable[[bool], None]) -> None:
        self._remaining = count
        self._done = done
        if self._drop_what_is_there() is None:
            self._transport.pause_reading()
            assert self._socket is not None
            asyncio.get_running_loop().add_reader(self._socket.fileno(), self._readable)
            self._watching = True

    def close(self) -> None:
        """The connection is gone: stop watching and let the duplicate go."""
        self._stop_watching()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _readable(self) -> None:
        if self._drop_what_is_there() is not None:
            self._stop_watching()
            self._transport.resume_reading()

    def _drop_what_is_there(self) -> bool | None:
        """Drop what has arrived of the bytes still to drop. Calls ``done`` and returns whether they
        were all dropped (False: the client left first), or None while some are still to come."""
        assert self._socket is not None
        try:
            while self._remaining:
                wanted = min(self._remaining, len(self._scratch))
                dropped = self._socket.recv_into(self._scratch, wanted, FLAGS)
                if not dropped:
                    return self._finish(completed=False)
                self._remaining -= dropped
        except BlockingIOError:
            return None
        except OSError:
            return self._finish(completed=False)
        return self._finish(completed=True)

    def _finish(self, *, completed: bool) -> bool:
        done, self._done = self._done, None
        if done is not None:
            done(completed)
        return completed

    def _stop_watching(self) -> None:
        if self._watching and self._socket is not None:
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
        self._watching = False
