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
valid bearer token when tokens are configured (401); an admitted request with a ``Content-Encoding``
(aiohttp decompresses), an empty body, an ``Expect`` other than ``100-continue``, or a version or
``X-Request-Timeout-Ms`` the handler refuses before the body; and any head that arrives while
aiohttp is still answering an earlier request on the connection (a pipelining client), so answers
never interleave. What a pipelining client sends while the front door answers is held, with the
socket's reading paused, until the answer is written.

Connections: the front door answers on a connection only while aiohttp has nothing of it: an idle
aiohttp lets go of it first, so that aiohttp's keep-alive clock, which does not see the front door's
requests, cannot close it under them (the front door keeps its own idle timeout, aiohttp's 75 s). A
refused request's connection stays open for the next one once the body was dropped to its end; it
is closed after the answer when the client asked ``Expect: 100-continue`` (it may or may not send
the body it announced, as the middleware's refusal does) or said ``Connection: close``. At shutdown
the requests the front door admitted are answered (with ``Connection: close``) before their
connections close.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from typing import cast

from aiohttp import web

from gateway.api import body_drain, body_stall
from gateway.api.body_drain import BodyDrain
from gateway.api.context import CONTEXT, DEADLINE_HEADER, EXECUTOR, ApiContext, deadline_from, parse_version
from gateway.api.door_infer import Answer, DoorInfer, response_head
from gateway.api.middlewares import (
    CLIENT_CLOSED_REQUEST,
    JSON_TYPE,
    Rejection,
    overload_of,
    peer_client,
    rate_limit_of,
    retry_after,
)
from gateway.api.tensors import HEADER_LENGTH
from gateway.api.v2 import InferCall
from gateway.errors import InvalidInputError

MAX_HEAD_BYTES = 16 * 1024
"""A head longer than this goes to aiohttp, whose limits answer it."""
IDLE_TIMEOUT_S = 75.0
"""A connection only the front door has served closes after this long without a request (aiohttp's
keep-alive timeout, which takes over once aiohttp has the connection)."""
INFER_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
ROUTES = ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer")
"""The routes' patterns, as the middleware labels their metrics."""
HEAD_END = b"\r\n\r\n"
BROWSER_HEADERS = frozenset({"cookie", "origin", "sec-fetch-site"})
"""A request with any of these goes to the middleware's session and cross-site checks."""
LENGTH = re.compile(r"[0-9]{1,19}")
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A header's name (RFC 9110, 5.6.2)."""
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""No request line or header field may hold these (RFC 9110, 5.5; a bare CR or LF among them)."""
SINGLE_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "expect", "authorization", "connection", "host"}
)
"""Headers a head that repeats goes to aiohttp."""
FIRST_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""Every method aiohttp's parser knows starts with one of these."""
READ_BUFFER_BYTES = 256 * 1024
"""What the socket is read into when not into a served request's body (as uvloop's own reads)."""
SHUTDOWN_TIMEOUT_S = 60.0
"""How long closing waits for the requests the front door is answering (aiohttp's own wait for its
handlers at shutdown)."""
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class FrontDoor:
    """The protocol factory ``loop.create_server`` is given in place of aiohttp's server (``open``
    names that); one ``_Connection`` per accepted connection, each handing over to aiohttp when it
    must. The app holds it (``context.FRONT_DOOR``), so the middleware can say when a request is
    done."""

    def __init__(self, app: web.Application) -> None:
        self.context = app[CONTEXT]
        self._app = app
        self.closing = False
        """Shutting down: a connection closes once its request is answered."""
        self._handler_factory: Callable[[], asyncio.Protocol] | None = None
        self._connections: dict[asyncio.BaseTransport, _Connection] = {}
        self._date = (0, "")
        self.scratch = bytearray(body_drain.SCRATCH_BYTES if body_drain.available() else 0)
        """Shared by every connection's ``BodyDrain`` (the kernel writes nothing into it)."""
        self.read_buffer = memoryview(bytearray(READ_BUFFER_BYTES))
        """Shared by every connection: what is read into it is taken (copied, or judged and
        dropped) before the next read, as the event loop reads one socket at a time."""

    def open(self, handler_factory: Callable[[], asyncio.Protocol]) -> None:
        """Serve through ``handler_factory`` (the runner's ``web.Server``) from now on."""
        self._handler_factory = handler_factory

    def __call__(self) -> asyncio.BufferedProtocol:
        return _Connection(self)

    def handler(self) -> asyncio.Protocol:
        assert self._handler_factory is not None, "FrontDoor.open names aiohttp's server first"
        return self._handler_factory()

    def finished(self, request: web.BaseRequest) -> None:
        """aiohttp's middleware is done with ``request``: the front door may judge the next head on
        its connection (once the answer has left, see ``_Connection._aiohttp_idle``)."""
        connection = self._connections.get(cast(asyncio.BaseTransport, request.transport))
        if connection is not None:
            connection.finished += 1

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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(connection.serving for connection in self._connections.values()):
            if loop.time() >= deadline:
                for connection in list(self._connections.values()):
                    connection.close_if_door_only(even_serving=True)
                return
            await asyncio.sleep(0.01)

    def __len__(self) -> int:
        """The connections open now."""
        return len(self._connections)

    def opened(self, transport: asyncio.BaseTransport, connection: _Connection) -> None:
        self._connections[transport] = connection

    def closed(self, transport: asyncio.BaseTransport) -> None:
        self._connections.pop(transport, None)

    def date(self) -> str:
        """The ``Date`` header's value, formatted once a second."""
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, usegmt=True))
        return self._date[1]


class _Connection(asyncio.BufferedProtocol):
    """The socket is read straight into a served request's body; anything else is read into the
    door's shared buffer and taken from there (``_received``)."""

    def __init__(self, door: FrontDoor) -> None:
        self._door = door
        self._transport: asyncio.Transport | None = None
        self._aiohttp: asyncio.Protocol | None = None
        self._through = False
        """Everything goes to aiohttp from now on."""
        self._head = bytearray()
        self._forward = 0
        """Body bytes of a request handed to aiohttp still to hand over."""
        self._discard = 0
        """Body bytes of a refused request still to drop."""
        self._close_after_discard = False
        self._serving: DoorInfer | None = None
        """The admitted request the front door answers itself, from its head to its answer's write."""
        self._holding = False
        """What the client sends is held, and the socket's reading paused: from the end of a served
        request's body until its answer is written and the transport's write buffer has room."""
        self._held = bytearray()
        self._answer: asyncio.Task[Answer] | None = None
        """Held here: the event loop keeps only a weak reference to a task."""
        self._write_paused = False
        self._into_body = False
        """The last ``get_buffer`` gave the served request's body."""
        self._drain: BodyDrain | None = None
        self._body_watch: body_stall.StallWatch | None = None
        """Watches the served request's body until it is whole (stopped then, so that no timer keeps
        the request's buffer alive after its answer); a body that stops arriving is answered 408."""
        self._idle: asyncio.TimerHandle | None = None
        self._active_at = 0.0
        self._peer = peer_client(None)
        self.passed = 0
        self.finished = 0

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport; uvloop's is not a subclass of asyncio.Transport, hence the cast.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        # As aiohttp's ``request.remote`` names the client for the middleware's rate limit.
        self._peer = peer_client(peer[0] if isinstance(peer, (tuple, list)) and peer else None)
        self._door.opened(transport, self)
        self._restart_idle()

    def get_buffer(self, sizehint: int) -> memoryview:
        serving = self._serving
        self._into_body = serving is not None and serving.missing > 0
        if self._into_body:
            assert serving is not None
            return serving.free()
        return self._door.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self._into_body:
            serving = self._serving
            assert serving is not None
            serving.filled += nbytes
            if not serving.missing:
                self._start_answer(serving)
            return
        self._received(self._door.read_buffer[:nbytes])

    def _received(self, data: memoryview) -> None:
        """Take what was read (``data`` is only valid until this returns)."""
        if self._through:
            self._to_aiohttp(bytes(data))
            return
        if self._forward >= len(data):  # the usual chunk of a body going through
            self._forward -= len(data)
            self._to_aiohttp(bytes(data))
            return
        if self._holding:
            self._hold(data)
            return
        view = data
        while view and not self._closing():
            serving = self._serving
            if serving is not None:
                view = view[serving.feed(view) :]
                if not serving.missing:
                    self._start_answer(serving)
                    if view:
                        self._hold(view)
                    return
            elif self._forward:
                taken = min(self._forward, len(view))
                self._forward -= taken
                self._to_aiohttp(bytes(view[:taken]))
                view = view[taken:]
            elif self._discard:
                taken = min(self._discard, len(view))
                self._discard -= taken
                view = view[taken:]
                if not self._discard and self._close_after_discard:
                    self._close()
                    return
            else:
                rest = self._take_head(view)
                if rest is None:
                    return
                view = rest
        if self._discard and not self._closing():
            self._drop_in_kernel()

    def eof_received(self) -> bool | None:
        if self._aiohttp is not None:
            return self._aiohttp.eof_received()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_idle()
        self._stop_body_watch()
        serving = self._serving
        if serving is not None and serving.missing:
            # Gone mid-body: as aiohttp's handler, whose body read fails, answers it (to nobody).
            context = self._door.context
            context.queue.release(serving)
            context.metrics.observe(
                serving.route, "POST", CLIENT_CLOSED_REQUEST, time.perf_counter() - serving.timed_from
            )
            self._serving = None
        if self._drain is not None:
            self._drain.close()
        if self._transport is not None:
            self._door.closed(self._transport)
        if self._aiohttp is not None:
            self._aiohttp.connection_lost(exc)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._aiohttp is not None:
            self._aiohttp.pause_writing()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._aiohttp is not None:
            self._aiohttp.resume_writing()
        elif self._holding and self._serving is None:
            self._release_held()

    # --- the door ----------------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        """In a request the front door admitted and has not answered yet."""
        return self._serving is not None

    def close_if_door_only(self, even_serving: bool = False) -> None:
        if self._aiohttp is None and (even_serving or self._serving is None):
            self._close()

    def _take_head(self, view: memoryview) -> memoryview | None:
        """At a request's start: gather its head; answer or hand it over. Returns what follows the
        head, or None when nothing more is to be read now."""
        before = len(self._head)
        # The head's end is looked for in no more than a head's length: the body behind the head in
        # the same read (up to 256 KiB) is not copied.
        taken = view[: MAX_HEAD_BYTES + len(HEAD_END) - before]
        self._head += taken
        end = self._head.find(HEAD_END, max(0, before - len(HEAD_END) + 1))
        if end < 0:
            if len(self._head) > MAX_HEAD_BYTES or not _may_begin_a_head(self._head):
                # aiohttp answers at once what cannot become a head the door reads (a TLS hello
                # on the plain port, lines ending in a bare LF), rather than the client waiting
                # for a head's end that never comes.
                self._hand_over_the_rest(bytes(self._head) + view[len(taken) :])
            return None
        started = time.perf_counter()
        head = bytes(self._head[: end + len(HEAD_END)])
        rest = view[end + len(HEAD_END) - before :]
        self._head.clear()
        request = _parse(head)
        if request is None:
            self._hand_over_the_rest(head + rest.tobytes())
            return None
        verdict = self._judge(request)
        if verdict is not False and self._aiohttp is not None:
            self._let_aiohttp_go()
        if verdict is True:
            self._admit(request, started)
        elif verdict is False:
            self.passed += 1
            self._forward = request.content_length
            self._to_aiohttp(head)
        else:
            self._refuse(request, verdict, started)
        return rest

    def _judge(self, request: _Head) -> Rejection | bool:
        """The 429 or 503 the middleware would answer ``request`` with, when it is one the front
        door may answer; True when the front door admits the request and answers it itself; False
        (and nothing taken) when it goes to aiohttp."""
        context = self._door.context
        if (
            request.method != "POST"
            or request.model is None
            or request.content_length > context.max_body_bytes
            or not BROWSER_HEADERS.isdisjoint(request.headers)
            or not self._aiohttp_idle()
        ):
            return False
        client = context.tokens.client_of(request.headers.get("authorization"))
        if client is None:
            if context.tokens.enabled:
                return False  # 401
            client = self._peer
        overload = overload_of(context, request.model)
        if overload is not None:
            # Refused either way, as the middleware would: 429 when the client's bucket is empty,
            # else 503 with the token spent.
            return rate_limit_of(context, client) or overload
        if not self._servable(request):
            return False  # the middleware takes the client's token, or answers 429
        return rate_limit_of(context, client) or True

    def _servable(self, request: _Head) -> bool:
        """An admitted request the front door may answer itself: with a body, none of aiohttp's
        decoding (``Content-Encoding``), and headers that the handler would not refuse before
        reading the body (the version in the path, the deadline header). On a connection aiohttp
        has, it is let go first (``_let_aiohttp_go``; ``_judge`` has found it idle)."""
        headers = request.headers
        if (
            request.content_length == 0
            or "content-encoding" in headers
            or headers.get("expect", "100-continue").lower() != "100-continue"
        ):
            return False
        try:
            parse_version(request.version)
            deadline_from(headers.get(DEADLINE_HEADER.lower()), 0.0)
        except InvalidInputError:
            return False
        return True

    def _admit(self, request: _Head, started: float) -> None:
        assert request.model is not None
        assert self._transport is not None
        headers = request.headers
        call = InferCall(
            name=request.model,
            version=parse_version(request.version),
            header_length=headers.get(HEADER_LENGTH.lower()),
            deadline_header=headers.get(DEADLINE_HEADER.lower()),
            started=time.monotonic(),
        )
        serving = DoorInfer(
            call,
            request.path,
            ROUTES[request.versioned],
            request.content_length,
            close=headers.get("connection", "").lower() == "close",
            timed_from=started,
        )
        self._door.context.queue.reserve(request.model, serving)
        self._serving = serving
        if "expect" in headers:
            self._transport.write(CONTINUE)
        self._restart_idle()
        self._body_watch = body_stall.StallWatch(lambda: serving.filled, self._body_stalled)

    def _body_stalled(self) -> None:
        """Answer 408 and close: the served request's body stopped arriving."""
        self._body_watch = None
        serving = self._serving
        if serving is None or self._closing():
            return
        self._serving = None
        context: ApiContext = self._door.context
        context.queue.release(serving)
        message = (
            f"no body bytes arrived for {body_stall.BODY_STALL_S:.0f} s; {serving.missing} were still to come"
        )
        body = json.dumps({"error": message}).encode()
        head = response_head(408, JSON_TYPE, len(body), {}, date=self._door.date(), close=True)
        context.metrics.observe(serving.route, "POST", 408, time.perf_counter() - serving.timed_from)
        assert self._transport is not None
        self._transport.write(head + body)
        self._close()

    def _start_answer(self, serving: DoorInfer) -> None:
        self._stop_body_watch()
        self._holding = True
        task = asyncio.get_running_loop().create_task(
            serving.answer(self._door.context, self._door.executor())
        )
        task.add_done_callback(self._answered)
        self._answer = task

    def _answered(self, task: asyncio.Task[Answer]) -> None:
        serving = self._serving
        self._serving = None
        self._answer = None
        assert serving is not None
        if task.cancelled():
            self._close()
            return
        answer = task.result()
        # Counted before the answer leaves: a client that reads /metrics next finds it there.
        self._door.context.metrics.observe(
            serving.route, "POST", answer.status, time.perf_counter() - serving.timed_from
        )
        if self._closing():
            return
        assert self._transport is not None
        close = serving.close or self._door.closing
        self._transport.writelines([answer.head(self._door.date(), close), *answer.parts])
        if close:
            self._close()
            return
        self._restart_idle()
        if not self._write_paused:
            self._release_held()

    def _hold(self, data: bytes | memoryview) -> None:
        """Keep what arrived while a served request is answered (a pipelining client's next
        request), with the socket's reading paused, until ``_release_held``."""
        assert self._transport is not None
        self._held += data
        self._transport.pause_reading()

    def _release_held(self) -> None:
        assert self._transport is not None
        self._holding = False
        held = bytes(self._held)
        self._held.clear()
        self._transport.resume_reading()
        if held:
            self._received(memoryview(held))

    def _aiohttp_idle(self) -> bool:
        """aiohttp has answered every request handed to it, and its answers have left: its
        middleware has finished each (it writes the answer in the same step, pausing only on a full
        write buffer), and nothing is waiting to be written."""
        assert self._transport is not None
        return self.finished >= self.passed and self._transport.get_write_buffer_size() == 0

    def _refuse(self, request: _Head, rejection: Rejection, started: float) -> None:
        context: ApiContext = self._door.context
        expects = request.headers.get("expect", "").lower() == "100-continue"
        close = expects or request.headers.get("connection", "").lower() == "close"
        body = json.dumps({"error": rejection.message}).encode()
        head = response_head(
            rejection.status,
            JSON_TYPE,
            len(body),
            retry_after(rejection.retry_after_s),
            date=self._door.date(),
            close=close,
        )
        # Counted before the answer leaves: a client that reads /metrics next finds it there.
        context.metrics.rejections.labels(rejection.reason).inc()
        context.metrics.observe(
            ROUTES[request.versioned], "POST", rejection.status, time.perf_counter() - started
        )
        assert self._transport is not None
        self._transport.write(head + body)
        if expects:
            self._close()  # the client may or may not send what it announced
            return
        self._discard = request.content_length
        self._close_after_discard = close
        if close and not self._discard:
            self._close()
        elif not close:
            self._restart_idle()

    def _drop_in_kernel(self) -> None:
        """Drop the rest of a refused body below the transport (body_drain.py). Only on a connection
        aiohttp never had: its flow control could resume the transport's reading mid-drain."""
        if self._aiohttp is not None or not self._door.scratch:
            return
        assert self._transport is not None
        if self._drain is None:
            self._drain = BodyDrain.of(self._transport, self._door.scratch)
            if self._drain is None:
                return
        self._drain.drop(self._discard, self._drained)

    def _drained(self, completed: bool) -> None:
        self._discard = 0
        if not completed or self._close_after_discard:
            self._close()

    def _let_aiohttp_go(self) -> None:
        """aiohttp, idle on this connection (``_aiohttp_idle``), lets go of it without closing it, so
        that its keep-alive clock, which does not see the front door's requests, cannot close the
        connection under them; aiohttp gets the connection afresh for its next request. Its
        ``connection_lost`` closes only the transport it still holds, and it holds none then."""
        handler = self._aiohttp
        self._aiohttp = None
        assert isinstance(handler, web.RequestHandler)
        handler.transport = None
        handler.connection_lost(None)

    def _hand_over_the_rest(self, data: bytes) -> None:
        self._through = True
        self._head.clear()
        self._to_aiohttp(data)

    def _to_aiohttp(self, data: bytes) -> None:
        if self._aiohttp is None:
            self._cancel_idle()  # aiohttp's keep-alive takes over
            self._aiohttp = self._door.handler()
            self._aiohttp.connection_made(cast(asyncio.BaseTransport, self._transport))
        if data:
            self._aiohttp.data_received(data)

    def _close(self) -> None:
        if not self._closing():
            assert self._transport is not None
            self._transport.close()

    def _closing(self) -> bool:
        """Closed or closing: whatever else the client sent is not read."""
        return self._transport is None or self._transport.is_closing()

    def _restart_idle(self) -> None:
        # One timer per connection, moved on only when it fires: a request costs a clock read, not a
        # cancelled timer and a new one.
        loop = asyncio.get_running_loop()
        self._active_at = loop.time()
        if self._idle is None:
            self._idle = loop.call_at(self._active_at + IDLE_TIMEOUT_S, self._idle_check)

    def _idle_check(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = self._active_at + IDLE_TIMEOUT_S
        if loop.time() >= deadline and self._serving is None:
            self._idle = None
            self._close()
        else:
            self._idle = loop.call_at(max(deadline, loop.time() + 1.0), self._idle_check)

    def _stop_body_watch(self) -> None:
        if self._body_watch is not None:
            self._body_watch.stop()
            self._body_watch = None

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None


class _Head:
    """What the front door reads of a request head."""

    __slots__ = ("content_length", "headers", "method", "model", "path", "version", "versioned")

    def __init__(
        self,
        method: str,
        path: str,
        *,
        model: str | None,
        version: str | None,
        headers: dict[str, str],
        content_length: int,
    ):
        self.method = method
        self.path = path
        self.model = model
        self.version = version
        """The version an inference route names, as written (None: the route names none)."""
        self.versioned = 0 if version is None else 1
        """Index of the route in ``ROUTES``."""
        self.headers = headers
        self.content_length = content_length


def _may_begin_a_head(prefix: bytearray) -> bool:
    """Whether the start of a head read so far may still become one the door reads: a method's
    first letter, and every line ended by CRLF."""
    return prefix[0] in FIRST_BYTES and prefix.count(b"\n") == prefix.count(b"\r\n")


def _parse(head: bytes) -> _Head | None:
    """The head of an HTTP/1.1 request whose body is framed by one ``Content-Length``, with the
    model an inference route names (None for any other target); None for anything else (a
    chunked body, an upgrade, HTTP/1.0, no ``Host``, a head that does not parse), which goes to
    aiohttp."""
    lines = head[: -len(HEAD_END)].decode("latin-1").split("\r\n")
    request_line = lines[0].split(" ")
    if (
        len(request_line) != 3
        or request_line[2] != "HTTP/1.1"
        or not lines[0].isascii()
        or CONTROL.search(lines[0])
    ):
        return None
    method, target = request_line[0], request_line[1]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not TOKEN.fullmatch(name) or CONTROL.search(value):
            return None
        name = name.lower()
        if name in headers:
            if name in SINGLE_HEADERS:
                return None
            headers[name] += ", " + value.strip()
        else:
            headers[name] = value.strip()
    # Without Content-Length or Transfer-Encoding a request has no body (RFC 9112, 6.3).
    raw_length = headers.get("content-length", "0")
    # RFC 9112, 3.2: an HTTP/1.1 request without Host is answered 400 (aiohttp does).
    if (
        "host" not in headers
        or "transfer-encoding" in headers
        or "upgrade" in headers
        or not LENGTH.fullmatch(raw_length)
    ):
        return None
    path = target.partition("?")[0]
    match = INFER_PATH.fullmatch(path) if "%" not in path else None
    return _Head(
        method,
        path,
        model=match.group(1) if match else None,
        version=match.group(2) if match else None,
        headers=headers,
        content_length=int(raw_length),
    )
