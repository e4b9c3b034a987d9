"""What every handler and middleware reaches through the application: typed keys, no globals."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
from aiohttp import web

from gateway.api import body_stall
from gateway.api.admission import QueueAdmission, TokenBuckets
from gateway.api.connection_limit import ConnectionLimit
from gateway.api.metrics import HttpMetrics
from gateway.api.ports import (
    CameraDirectory,
    EventLog,
    GatewayState,
    GeometryEditor,
    InferenceBackend,
    SceneAdvisor,
    SystemInfo,
)
from gateway.api.shared_memory_regions import SharedMemoryRegions
from gateway.config import AdmissionConfig
from gateway.domain import ascii_integer
from gateway.errors import DeadlineExceededError, InvalidInputError, OverloadedError
from gateway.protocol.bearer import TokenCheck
from gateway.web.host_check import HostCheck
from gateway.web.session import Sessions

T = TypeVar("T")

DEADLINE_HEADER = "X-Request-Timeout-Ms"
# A batch that has started is allowed to finish: the backend drops expired items before they run,
# so waiting a little past the deadline turns a result that is nearly there into a 200, not a 504.
RUNNING_GRACE_S = 0.05
# Parsing this many bytes of JSON, or writing this many tensor values as JSON, holds the event loop
# for milliseconds: such requests are parsed or encoded on the API's thread pool instead.
OFFLOAD_BYTES = 256 * 1024
OFFLOAD_VALUES = 32 * 1024
# Copying tensors out of or into shared memory runs at memory speed (1.2 MB in 0.07 ms here): a hop
# to the pool costs more than that until about this many bytes (0.28 ms).
OFFLOAD_COPY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ApiContext:
    backend: InferenceBackend
    cameras: CameraDirectory | None
    events: EventLog | None
    state: GatewayState | None
    metrics: HttpMetrics
    tokens: TokenCheck
    sessions: Sessions
    hosts: HostCheck
    """The ``Host`` values answered without tokens (host_check.py)."""
    buckets: TokenBuckets
    queue: QueueAdmission
    admission: AdmissionConfig
    max_body_bytes: int
    insecure: bool
    connections: ConnectionLimit
    """The API's connection cap and descriptor watch."""
    geometry: GeometryEditor | None = None
    system: SystemInfo | None = None
    scenes: SceneAdvisor | None = None
    regions: SharedMemoryRegions = field(default_factory=SharedMemoryRegions)
    """The system shared-memory regions clients registered (Triton's extension)."""


CONTEXT: web.AppKey[ApiContext] = web.AppKey("edge_gateway_api", ApiContext)


class RequestLedger(Protocol):
    """Told when the middleware begins and is done with a request (``front_door.FrontDoor``)."""

    def started(self, request: web.BaseRequest) -> None: ...

    def finished(self, request: web.BaseRequest) -> None: ...


FRONT_DOOR: web.AppKey[RequestLedger] = web.AppKey("edge_gateway_front_door")
EXECUTOR: web.AppKey[ThreadPoolExecutor] = web.AppKey("edge_gateway_api_executor", ThreadPoolExecutor)


def context_of(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


async def offload(request: web.Request, function: Callable[[], T]) -> T:
    """Run blocking work (image decode, big JSON, snapshots) on the API's small bounded pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app[EXECUTOR], function)


ALIGNMENT = 64
"""Bytes: where binary tensors start in a request body read by ``read_body`` (a cache line, which
is also what ONNX Runtime's CPU kernels want)."""


async def read_body(request: web.Request, align_at: int = 0) -> memoryview:
    """The whole body, copied once, straight from the socket's chunks into one buffer of the
    announced size; byte ``align_at`` (the start of the binary tensors) lands on a 64-byte boundary.

    ``request.read()`` grows a bytearray chunk by chunk and then copies it into bytes; a bytearray of
    the right size is zero-filled first. For a tensor of a megabyte either is several large
    allocations and copies on the event loop, and the tensor would sit at whatever offset the JSON
    header ends at, which ONNX Runtime copies again when it is not aligned.

    A body that arrived whole before the handler ran (usual on uvloop) takes the same path: its
    chunks are still in the stream's buffer, and ``request.read()`` would join them twice. They are
    taken one at a time (``readchunk``; ``readany`` joins every chunk waiting into one more copy).

    A compressed body (gzip or deflate, which aiohttp decodes) is read whole: its length is not the
    announced one. A body that stops arriving is answered 408 (``body_stall``)."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in DECODED_ENCODINGS:
        raise web.HTTPUnsupportedMediaType(
            text=f"Content-Encoding {encoding!r} is not taken; send identity, gzip or deflate"
        )
    content = request.content
    watch = body_stall.StallWatch(
        lambda: content.total_bytes, lambda: content.set_exception(BodyStalledError())
    )
    try:
        length = request.content_length
        if length is None or length == 0 or encoding != "identity":
            return memoryview(await request.read())
        view = aligned_buffer(length, align_at)
        filled = 0
        while filled < length:
            chunk, _ = await request.content.readchunk()
            if not chunk:
                break
            end = filled + len(chunk)
            view[filled:end] = chunk
            filled = end
        if filled != length:
            raise InvalidInputError(f"the body ended after {filled} of its {length} bytes")
        return view
    except web.RequestPayloadError as exc:
        raise web.HTTPBadRequest(text=f"the body could not be read as {encoding}: {exc}") from None
    except BodyStalledError:
        raise web.HTTPRequestTimeout(
            text=f"no body bytes arrived for {body_stall.BODY_STALL_S:.0f} s"
        ) from None
    finally:
        watch.stop()


class BodyStalledError(asyncio.TimeoutError):
    """Set on a stalled body's stream. A timeout, so that aiohttp's drain of the unread rest after
    the 408 (which it suppresses timeouts in) lets it go instead of logging it as unhandled."""


DECODED_ENCODINGS = frozenset({"identity", "gzip", "deflate"})
"""Content-Encodings a body may have: aiohttp decodes gzip and deflate in every version we run on
(br and zstd only where their modules are installed)."""


def aligned_buffer(length: int, align_at: int) -> memoryview:
    """A writable buffer of ``length`` bytes, not zero-filled, whose byte ``align_at`` lies on an
    ``ALIGNMENT`` boundary."""
    storage = np.empty(length + ALIGNMENT, dtype=np.uint8)
    start = -(storage.ctypes.data + align_at) % ALIGNMENT
    return storage.data[start : start + length]


def deadline_of(request: web.Request, started_at: float, timeout_s: float | None = None) -> float | None:
    """The monotonic deadline from ``X-Request-Timeout-Ms`` and/or a protocol timeout, the earlier."""
    return deadline_from(request.headers.get(DEADLINE_HEADER), started_at, timeout_s)


def deadline_from(raw: str | None, started_at: float, timeout_s: float | None = None) -> float | None:
    """``deadline_of`` from the ``X-Request-Timeout-Ms`` header's value (None: no header)."""
    deadlines = []
    if raw is not None:
        try:
            milliseconds = float(raw)
        except ValueError:
            milliseconds = math.nan
        if not math.isfinite(milliseconds) or milliseconds < 0:
            raise InvalidInputError(f"{DEADLINE_HEADER} must be a non-negative number of ms, got {raw!r}")
        deadlines.append(started_at + milliseconds / 1000)
    if timeout_s is not None:
        deadlines.append(started_at + timeout_s)
    return min(deadlines) if deadlines else None


def check_queue(context: ApiContext) -> None:
    """The watermark again, right before submitting: the guard checked it before the body arrived,
    and other requests may have been admitted while this one's body was read. Nothing awaits
    between this check and the submit, so admitted work never waits behind more than the
    watermark's share of the queue."""
    fill = context.backend.queue_fill()
    if fill > context.admission.high_watermark:
        raise OverloadedError(
            f"inference queue is {fill:.0%} full, above the {context.admission.high_watermark:.0%} watermark"
        )


def parse_version(raw: str | None) -> int | None:
    """A model version from a path (``.../versions/{version}``); None: the path names none."""
    if raw is None or raw == "":
        return None
    version = ascii_integer(raw)
    if version is None or version < 1:
        raise InvalidInputError(f"model version must be a positive integer, got {raw!r}")
    return version


def release_admission(request: web.Request) -> None:
    """Give back the request's place in the wait estimate: it is queued now (and counted there),
    or it will never be. Safe to call more than once."""
    context_of(request).queue.release(request)


def check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceededError("the request's deadline passed before it was queued")


async def wait_result(future: Future[T], deadline: float | None) -> T:
    """Await a backend future without blocking the loop; past the deadline (plus grace) -> 504."""
    if deadline is None:
        return await asyncio.wrap_future(future)
    remaining = deadline - time.monotonic() + RUNNING_GRACE_S
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), max(remaining, 0.0))
    except asyncio.TimeoutError as exc:
        future.cancel()
        raise DeadlineExceededError("the request's deadline passed before its result was ready") from exc
