"""The front door: answers inference requests below aiohttp, refused ones from their head alone.

aiohttp's request machinery (its parser, request object, routing, the middleware, a response object
and its writer) costs the event loop about a millisecond per request that the inference workers
lose (bench/request_cpu.py), on top of what the clients cost; under overload most requests are
refused, and a refusal through it costs most of that too. The front door sits between the socket and
aiohttp's protocol on every connection and reads each request head itself. When the head is a
``POST /v2/models/{name}[/versions/{version}]/infer``:

- that the queue would refuse (above the high watermark, or an expected wait over the budget:
  ``middlewares.overload_of``, the check the middleware makes), it writes the same 503 with
  ``Retry-After`` and drops the body as it arrives (inside the kernel where it can: body_drain.py);
- that the queue admits, on a connection aiohttp never had, it takes the client's token (429 when
  there is none, as the middleware would) and answers the request itself (door_infer.py): the body is
  read from the socket straight into one aligned buffer, and the answer is the handler's.

Everything else, and every request it is not sure of, goes to aiohttp byte for byte, and aiohttp is
created for a connection only when its first request goes through.

What the front door leaves to aiohttp, so that every other answer stays aiohttp's and the
middleware's: anything but an HTTP/1.1 POST to those two routes with one ``Content-Length`` within
``http.max_body_bytes`` (chunked bodies, upgrades, odd or oversized heads: from then on the whole
connection, and at once when what has arrived cannot begin a head it reads, such as a TLS hello);
requests with a cookie or an ``Origin`` (the console's session and CSRF checks); requests without a
valid bearer token when tokens are configured (401), and without tokens those whose ``Host`` does not
name the loopback (421, ``gateway.web.host_check``); an admitted request with a ``Content-Encoding``
(aiohttp decompresses), an empty body, an ``Expect`` other than ``100-continue``, or a version or
``X-Request-Timeout-Ms`` the handler refuses before the body; and any head that arrives while
aiohttp is still answering an earlier request on the connection (a pipelining client), so answers
never interleave. What a pipelining client sends while the front door answers is held, with the
socket's reading paused, until the answer is written.

Connections: the front door answers on a connection only while aiohttp has nothing of it: an idle
aiohttp lets go of it first, so that aiohttp's keep-alive clock, which does not see the front door's
requests, cannot close it under them (the front door keeps its own idle timeout, aiohttp's 75 s). A
connection that has not sent its first head whole within ``request_head.HEAD_TIMEOUT_S`` of its
accept is closed unanswered, and so is one whose later head, once begun, the front door waits for as
long (aiohttp bounds only the keep-alive between requests, not a head's arrival). A
refused request's connection stays open for the next one once the body was dropped to its end; it
is closed after the answer when the client asked ``Expect: 100-continue`` (it may or may not send
the body it announced, as the middleware's refusal does) or said ``Connection: close``. At shutdown
the requests the front door admitted are answered (with ``Connection: close``) before their
connections close; the bodies of requests handed to aiohttp are handed over whole before aiohttp's
shutdown begins, which drops whatever arrives after it (a request whose body was still arriving
waited for it until its client gave up, and held the stop as long), for ``BODY_GRACE_S`` at most:
those of a known length as the front door hands them over, the others (chunked, or on a connection
handed over whole) until aiohttp's request has its body's end;
and a connection made once the shutdown has begun is closed at once (uvloop accepts until the
listening socket closes and makes the connection a loop turn later, after the idle ones were closed).

Modules: this one holds the protocol factory and what its connections share; door_connection.py a
connection's reading, handing over and writing; request_head.py the heads it reads; door_verdict.py
what it does with one; door_infer.py the admitted request it answers itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from typing import cast

from aiohttp import web

from gateway.api import body_drain
from gateway.api.context import CONTEXT, EXECUTOR
from gateway.api.door_connection import Connection

READ_BUFFER_BYTES = 256 * 1024
"""What the socket is read into when not into a served request's body (as uvloop's own reads)."""
SHUTDOWN_TIMEOUT_S = 60.0
"""How long closing waits for the requests the front door is answering (aiohttp's own wait for its
handlers at shutdown)."""
AIOHTTP_START_TURNS = 3
"""Loop turns after which aiohttp has begun every request whose head it was given."""
BODY_GRACE_S = 5.0
"""How long closing waits for the bodies of requests handed to aiohttp to arrive whole; the
connections of those still arriving are closed then."""


class Refused(asyncio.Protocol):
    """A connection accepted beyond the cap (connection_limit.py): closed at once, unread."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).abort()  # a TCP transport (uvloop's is no subclass)


REFUSED = Refused()
"""One for every refused connection: it keeps nothing of any."""


class FrontDoor:
    """The protocol factory ``loop.create_server`` is given in place of aiohttp's server (``open``
    names that); one ``Connection`` per accepted connection, each handing over to aiohttp when it
    must. The app holds it (``context.FRONT_DOOR``), so the middleware can say when a request is
    done."""

    def __init__(self, app: web.Application) -> None:
        self.context = app[CONTEXT]
        self._app = app
        self.closing = False
        """Shutting down: a connection closes once its request is answered."""
        self._handler_factory: Callable[[], asyncio.Protocol] | None = None
        self._connections: dict[asyncio.BaseTransport, Connection] = {}
        self._date = (0, "")
        self.scratch = bytearray(body_drain.SCRATCH_BYTES if body_drain.available() else 0)
        """Shared by every connection's ``BodyDrain`` (the kernel writes nothing into it)."""
        self._cap = self.context.connections.cap
        self._accepting = 0
        """Connections accepted in this loop turn, whose ``connection_made`` has not come yet."""
        self.read_buffer = memoryview(bytearray(READ_BUFFER_BYTES))
        """Shared by every connection: what is read into it is taken (copied, or judged and
        dropped) before the next read, as the event loop reads one socket at a time."""

    def open(self, handler_factory: Callable[[], asyncio.Protocol]) -> None:
        """Serve through ``handler_factory`` (the runner's ``web.Server``) from now on."""
        self._handler_factory = handler_factory

    def __call__(self) -> asyncio.BaseProtocol:
        # Called once a connection is accepted, before its transport is made; its ``connection_made``
        # comes in a later loop turn, so those made in this turn are counted apart until then
        # (uvloop calls this from its accept callbacks only, never between the two).
        if len(self._connections) + self._accepting >= self._cap:
            self.context.connections.refuse()
            return REFUSED
        if not self._accepting:
            asyncio.get_running_loop().call_soon(self._accepted)
        self._accepting += 1
        return Connection(self)

    def _accepted(self) -> None:
        self._accepting = 0

    def handler(self) -> asyncio.Protocol:
        assert self._handler_factory is not None, "FrontDoor.open names aiohttp's server first"
        return self._handler_factory()

    def started(self, request: web.BaseRequest) -> None:
        """aiohttp's middleware begins ``request``: whether its body is whole is known from now."""
        connection = self._connections.get(cast(asyncio.BaseTransport, request.transport))
        if connection is not None:
            connection.in_aiohttp = request
            connection.head_whole()

    def finished(self, request: web.BaseRequest) -> None:
        """aiohttp's middleware is done with ``request``: the front door may judge the next head on
        its connection (once the answer has left, see ``Connection._aiohttp_idle``)."""
        connection = self._connections.get(cast(asyncio.BaseTransport, request.transport))
        if connection is not None:
            connection.finished += 1
            connection.in_aiohttp = None

    def head_timed_out(self) -> None:
        """A connection is closed for a head that did not come whole in time (door_connection.py)."""
        self.context.metrics.head_timeouts.inc()

    def executor(self) -> ThreadPoolExecutor:
        return self._app[EXECUTOR]

    def close_idle(self) -> None:
        """Close the connections aiohttp never had that are not in a request (at shutdown; aiohttp
        closes its own); those in one close once it is answered."""
        self.closing = True
        for connection in list(self._connections.values()):
            connection.close_if_door_only()

    async def answered(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Wait (at shutdown, after ``close_idle``) until the requests the front door admitted are
        answered, at most ``timeout_s``; then close what is left."""
        if not await self._until_none(lambda connection: connection.serving, timeout_s):
            for connection in list(self._connections.values()):
                connection.close_if_door_only(even_serving=True)

    async def bodies_handed_over(self) -> None:
        """Wait (at shutdown, before aiohttp's) until the requests handed to aiohttp have their
        bodies whole, at most ``BODY_GRACE_S``; then close the connections of those still arriving."""
        # A body the front door does not count (a chunked one) is known once aiohttp's middleware
        # has begun its request: at most two loop turns after its head arrived (the connection's
        # task wakes, then the request's own task starts); after three, every such request is.
        for _ in range(AIOHTTP_START_TURNS):
            await asyncio.sleep(0)
        if not await self._until_none(lambda connection: connection.body_arriving, BODY_GRACE_S):
            for connection in list(self._connections.values()):
                if connection.body_arriving:
                    connection.close()

    async def _until_none(self, busy: Callable[[Connection], bool], timeout_s: float) -> bool:
        """Wait until no connection is ``busy``, at most ``timeout_s``; False when time ran out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(busy(connection) for connection in self._connections.values()):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def __len__(self) -> int:
        """The connections open now."""
        return len(self._connections)

    def opened(self, transport: asyncio.BaseTransport, connection: Connection) -> None:
        self._connections[transport] = connection

    def closed(self, transport: asyncio.BaseTransport) -> None:
        self._connections.pop(transport, None)

    def date(self) -> str:
        """The ``Date`` header's value, formatted once a second."""
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, usegmt=True))
        return self._date[1]
