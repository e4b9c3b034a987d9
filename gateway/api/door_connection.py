"""One connection through the front door (front_door.py): each request head read, then refused,
answered by the front door itself (door_infer.py) or handed to aiohttp, as the front door's module
docstring describes."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, cast

from aiohttp import web

from gateway.api import body_stall
from gateway.api.body_drain import BodyDrain
from gateway.api.context import DEADLINE_HEADER, parse_version
from gateway.api.door_infer import Answer, DoorInfer
from gateway.api.door_verdict import ROUTES, judge, refusal
from gateway.api.idle_timer import IdleTimer
from gateway.api.middlewares import Rejection, peer_client
from gateway.api.request_head import (
    HEAD_END,
    HEAD_TIMEOUT_S,
    MAX_HEAD_BYTES,
    Head,
    may_begin_a_head,
    parse_head,
)
from gateway.api.tensors import HEADER_LENGTH
from gateway.api.v2_infer import InferCall

if TYPE_CHECKING:
    from gateway.api.front_door import FrontDoor

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Connection(asyncio.BufferedProtocol):
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
        self._idle = IdleTimer(self._close, lambda: self._serving is not None)
        self._head_timer: asyncio.TimerHandle | None = None
        """Runs while a head is awaited whole (``HEAD_TIMEOUT_S``): from the accept until the first
        head is, and from the first byte of a later head the front door reads until it is."""
        self._peer = peer_client(None)
        self._address: str | None = None
        self.passed = 0
        self.finished = 0
        self.in_aiohttp: web.BaseRequest | None = None
        """The request aiohttp's middleware is in on this connection, if any."""

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport; uvloop's is not a subclass of asyncio.Transport, hence the cast.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        # As aiohttp's ``request.remote`` names the client for the middleware's rate limit.
        self._address = peer[0] if isinstance(peer, (tuple, list)) and peer else None
        self._peer = peer_client(self._address)
        self._door.opened(transport, self)
        self._door.context.connections.accepted()
        if self._door.closing:
            self._close()  # made after the shutdown closed the idle ones (front_door.py)
            return
        self._idle.restart()
        self._await_head()

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
        self._idle.cancel()
        self._head_whole()
        self._stop_body_watch()
        serving = self._serving
        if serving is not None and serving.missing:
            serving.abandoned(self._door.context)
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

    @property
    def body_arriving(self) -> bool:
        """A request handed to aiohttp still has body bytes to come: of those the front door hands
        over by their length, or before the end aiohttp's parser has yet to see (a chunked body)."""
        if self._closing():
            return False
        request = self.in_aiohttp
        return self._forward > 0 or (request is not None and not request.content.is_eof())

    def close(self) -> None:
        self._close()

    def head_whole(self) -> None:
        """aiohttp has a request's head whole (its middleware began the request): the head it was
        handed in part is no longer awaited."""
        self._head_whole()

    def _await_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT_S, self._head_late)

    def _head_whole(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        """No whole head within ``HEAD_TIMEOUT_S``: closed unanswered, as nginx does (an answer
        would be read by no client that is not sending a request)."""
        self._head_timer = None
        if self._closing() or self.in_aiohttp is not None or self._serving is not None:
            return
        self._door.head_timed_out()
        self._close()

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
            if len(self._head) > MAX_HEAD_BYTES or not may_begin_a_head(self._head):
                # aiohttp answers at once what cannot become a head the door reads (a TLS hello
                # on the plain port, lines ending in a bare LF), rather than the client waiting
                # for a head's end that never comes. The head timer keeps running until aiohttp's
                # middleware begins the request (``head_whole``).
                self._hand_over_the_rest(bytes(self._head) + view[len(taken) :])
            elif not before:
                # Only a head split over reads arms a timer: one that arrives whole costs none.
                self._await_head()
            return None
        self._head_whole()
        started = time.perf_counter()
        head = bytes(self._head[: end + len(HEAD_END)])
        rest = view[end + len(HEAD_END) - before :]
        self._head.clear()
        request = parse_head(head)
        if request is None:
            self._hand_over_the_rest(head + rest.tobytes())
            return None
        verdict = judge(self._door.context, request, self._peer, self._aiohttp_idle)
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

    def _admit(self, request: Head, started: float) -> None:
        assert request.model is not None
        assert self._transport is not None
        headers = request.headers
        call = InferCall(
            name=request.model,
            version=parse_version(request.version),
            header_length=headers.get(HEADER_LENGTH.lower()),
            deadline_header=headers.get(DEADLINE_HEADER.lower()),
            started=time.monotonic(),
            remote=self._address,
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
        self._idle.restart()
        self._body_watch = body_stall.StallWatch(lambda: serving.filled, self._body_stalled)

    def _body_stalled(self) -> None:
        """Answer 408 and close: the served request's body stopped arriving."""
        self._body_watch = None
        serving = self._serving
        if serving is None or self._closing():
            return
        self._serving = None
        assert self._transport is not None
        self._transport.write(serving.stalled(self._door.context, self._door.date()))
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
        self._idle.restart()
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

    def _refuse(self, request: Head, rejection: Rejection, started: float) -> None:
        expects = request.headers.get("expect", "").lower() == "100-continue"
        close = expects or request.headers.get("connection", "").lower() == "close"
        answer = refusal(self._door.context, request, rejection, started, self._door.date(), close=close)
        assert self._transport is not None
        self._transport.write(answer)
        if expects:
            self._close()  # the client may or may not send what it announced
            return
        self._discard = request.content_length
        self._close_after_discard = close
        if close and not self._discard:
            self._close()
        elif not close:
            self._idle.restart()

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
            self._idle.cancel()  # aiohttp's keep-alive takes over
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

    def _stop_body_watch(self) -> None:
        if self._body_watch is not None:
            self._body_watch.stop()
            self._body_watch = None
