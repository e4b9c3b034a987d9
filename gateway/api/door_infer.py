"""An admitted inference request that the front door answers itself, below aiohttp.

Through aiohttp, an admitted ``POST /v2/models/{name}[/versions/{version}]/infer`` passes its parser
(the body fed chunk by chunk into a stream), its request object, routing, the middleware, a response
object and its writer: most of the event loop's CPU per request, which the inference workers lose
(bench/request_cpu.py). The front door (front_door.py) has already read the head and admitted the
request; ``DoorInfer`` then takes the body from the socket's chunks straight into one aligned
buffer, runs the call aiohttp's handler runs (``v2_infer.answer_infer``: parse, check, queue, await,
encode), and hands back the answer's head and parts, the output arrays themselves, for one write.

The answers are the handler's: the same statuses, bodies and headers (less aiohttp's ``Server``),
the same errors (``middlewares.error_answer``), the same metrics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from http import HTTPStatus

from gateway.api import body_stall
from gateway.api.context import ApiContext, aligned_buffer
from gateway.api.middlewares import CLIENT_CLOSED_REQUEST, JSON_TYPE, count_failure, error_answer
from gateway.api.tensors import HEADER_LENGTH
from gateway.api.v2 import BINARY_TYPE
from gateway.api.v2_infer import InferCall, answer_infer
from gateway.web.answer_headers import ANSWER_HEADERS

Part = bytes | memoryview
ANSWER_LINES = tuple(f"{name}: {value}" for name, value in ANSWER_HEADERS.items())
"""The headers every answer of the API carries (``gateway.web.answer_headers``), as head lines made
once: aiohttp's answers get them from a response hook, which these never pass."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    headers: Mapping[str, str]
    parts: Sequence[Part]
    """The body, in the pieces it is written in."""

    def head(self, date: str, close: bool) -> bytes:
        # Every part is bytes or a memoryview cast to bytes: its len is its size.
        size = sum(len(part) for part in self.parts)
        return response_head(self.status, self.content_type, size, self.headers, date=date, close=close)


def response_head(
    status: int, content_type: str, length: int, headers: Mapping[str, str], *, date: str, close: bool
) -> bytes:
    """An HTTP/1.1 response head as the front door writes it."""
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
        *ANSWER_LINES,
        *(f"{name}: {value}" for name, value in headers.items()),
        f"Date: {date}",
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class DoorInfer:
    """One admitted inference request: its body as it arrives, then its answer. It is also the
    holder of the request's admission reservation (``QueueAdmission.reserve``)."""

    __slots__ = ("body", "call", "close", "filled", "path", "route", "timed_from")

    def __init__(
        self, call: InferCall, path: str, route: str, content_length: int, *, close: bool, timed_from: float
    ) -> None:
        self.call = call
        self.path = path
        self.route = route
        """The route's pattern, as the request metrics label it."""
        self.close = close
        """The client asked ``Connection: close``."""
        self.timed_from = timed_from
        """``time.perf_counter()`` when its head was read: the request metrics' latency starts there."""
        self.body = aligned_buffer(content_length, call.json_size or 0)
        self.filled = 0

    @property
    def missing(self) -> int:
        """Body bytes still to arrive."""
        return len(self.body) - self.filled

    def free(self) -> memoryview:
        """The body still to arrive, to read the socket into."""
        return self.body[self.filled :]

    def feed(self, data: memoryview) -> int:
        """Copy what of ``data`` belongs to the body into it; returns how many bytes that was."""
        taken = min(len(data), len(self.body) - self.filled)
        end = self.filled + taken
        self.body[self.filled : end] = data[:taken]
        self.filled = end
        return taken

    def abandoned(self, context: ApiContext) -> None:
        """The client left mid-body: counted as aiohttp's handler, whose body read fails, answers
        it (to nobody), and its reservation released."""
        context.queue.release(self)
        context.metrics.observe(
            self.route, "POST", CLIENT_CLOSED_REQUEST, time.perf_counter() - self.timed_from
        )

    def stalled(self, context: ApiContext, date: str) -> bytes:
        """The 408 that ends a request whose body stopped arriving (its connection closes after
        it), its reservation released and its answer counted."""
        context.queue.release(self)
        message = (
            f"no body bytes arrived for {body_stall.BODY_STALL_S:.0f} s; {self.missing} were still to come"
        )
        body = json.dumps({"error": message}).encode()
        context.metrics.observe(self.route, "POST", 408, time.perf_counter() - self.timed_from)
        return response_head(408, JSON_TYPE, len(body), {}, date=date, close=True) + body

    async def answer(self, context: ApiContext, executor: Executor) -> Answer:
        """The answer once the whole body is in; never raises (an error is its answer)."""
        try:
            response = await answer_infer(context, executor, self.call, self.body, holder=self)
        except Exception as exc:  # as the middleware: every failure becomes an HTTP answer
            status, message, headers = error_answer(exc, "POST", self.path)
            count_failure(context, exc, status)
            return Answer(status, JSON_TYPE, headers, (json.dumps({"error": message}).encode(),))
        finally:
            context.queue.release(self)
        json_length = response.json_length
        if json_length is None:
            return Answer(200, JSON_TYPE, {}, (response.header,))
        return Answer(
            200, BINARY_TYPE, {HEADER_LENGTH: str(json_length)}, (response.header, *response.tensors)
        )
