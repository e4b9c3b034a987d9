"""``GET /v1/cameras/{id}/stream.mjpeg``: the live view, as ``multipart/x-mixed-replace`` JPEGs
(``?motion=1``: with where the motion gate saw change outlined, ``motion_view``; ``?longest_side=N``:
drawn at the smallest of ``LIVE_VIEW_SIDES`` at least N pixels on its longest side).

One encoder task per camera serves every viewer of that camera: each frame is drawn (boxes, track
ids, zones, lines) and encoded once, whatever the number of viewers, on the API's thread pool (a
camera's view with motion outlined, or at another size, is another picture, drawn by a task of its
own while watched). The task exists only while someone watches; the last viewer leaving ends it, so
an unwatched camera costs nothing. Each viewer holds a one-frame slot: a slow viewer skips to the
newest frame rather than queueing old ones, and its slow socket delays no one else.

aiohttp does not cancel a handler whose client went away; a write to the closed socket is what
ends a viewer. A camera with no picture (down since start, or never streamed) writes nothing, so
a viewer waiting for its first frame checks every ``GONE_CHECK_S`` whether its client is still
there: viewers who had left were counted, and kept the camera's encoder task polling, for good.
A ``HEAD`` is answered with the headers alone: it joins no stream, and gets no endless body.

A view lasts as long as it is watched, long past the guard that let it in: it asks again with every
frame, and every ``GONE_CHECK_S`` without one, whether its credentials are still in force
(``middlewares.credentials_in_force``). A token a reload took out of the tokens file, or a console
session logged out or expired, ends the views it opened; asked for again, they are a 401. Before,
the holder of a leaked token kept watching until they left.

Viewers are bounded, per camera and in all: each holds a connection, a one-frame slot (a 720p JPEG
is about 100 kB) and a socket write of every frame, about 0.5 MB/s at 5 fps, so an unbounded number
(a wall of browser tabs, a script opening streams in a loop) would take the API's memory and uplink
from everything else. A viewer past either bound is answered 503 with ``Retry-After``, naming the
bound, and counted in ``edge_gateway_console_stream_refusals_total``; the console shows the reason
where the picture would be and asks again after that many seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.api.context import CONTEXT, context_of, offload
from gateway.api.middlewares import credentials_in_force
from gateway.api.motion_view import motion_view
from gateway.api.picture_size import longest_side_asked
from gateway.api.unknown_camera import unknown_camera

logger = logging.getLogger(__name__)

STREAM_FPS = 5.0
"""Frames per second a live view is capped at: enough to see motion, cheap to encode."""
LIVE_VIEW_LONGEST_SIDE = 1280
"""The most pixels a live view's picture has on its longest side: a larger frame is scaled down
before its marks are drawn (as Frigate's live view is drawn 720 high). At a 4K camera's own size a
frame was 300 to 820 KiB (bench/live_view.py: smooth, and with a camera's grain), 12 to 33 Mbit/s at
5 fps to every viewer, a phone included, for a screen that shows it shrunk anyway; scaled, 60 KiB
and 2.5 Mbit/s, in 7 to 8 ms of CPU against 17 to 21. ``snapshot.jpg`` keeps the frame's own size."""
LIVE_VIEW_SIDES = (320, 640, 960, LIVE_VIEW_LONGEST_SIDE)
"""The sizes (longest side) a live view is drawn at; ``?longest_side=N`` takes the smallest at least N,
the largest beyond it. The console's tiles ask for the size they show: in tiles 300 pixels wide (five
to a 1920-pixel screen) a 1280 view drew its marks a quarter of the size they are drawn for and sent
57 to 82 KiB a frame, where 320 pixels take 9 to 11. So few sizes that viewers of nearly one size
share an encoder, and a camera has eight at most (each size with and without motion outlined)."""
BOUNDARY = "frame"
GONE_CHECK_S = 1.0
"""Seconds between checks that a viewer waiting for a frame is still connected."""
MAX_VIEWERS_PER_CAMERA = 8
"""Live views of one camera served at once: a control room's screens, with room to spare."""
MAX_VIEWERS = 32
"""Live views served at once in all: about 16 MB/s of JPEG at 720p and 5 fps."""
REFUSED_RETRY_AFTER_S = 10
"""What a refused viewer is told to wait: long enough for a viewer who left to be let go."""
HEADERS = {
    "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

Encode = Callable[[], Awaitable[bytes | None]]
"""Draw and encode the camera's newest frame; None before its first frame."""


class CameraStream:
    """The viewers of one camera and the encoder task that feeds them while there are any."""

    def __init__(
        self, camera_id: str, encode: Encode, interval_s: float, on_idle: Callable[[], None]
    ) -> None:
        self.camera_id = camera_id
        self._encode = encode
        self._interval_s = interval_s
        self._on_idle = on_idle
        self._viewers: set[asyncio.Queue[bytes | None]] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def join(self) -> asyncio.Queue[bytes | None]:
        slot: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
        self._viewers.add(slot)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"stream-{self.camera_id}")
        return slot

    def leave(self, slot: asyncio.Queue[bytes | None]) -> None:
        self._viewers.discard(slot)

    def close(self) -> None:
        """Tell every viewer the stream ended (server shutdown)."""
        for slot in self._viewers:
            _offer(slot, None)
        self._viewers.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._viewers:
                started = loop.time()
                try:
                    jpeg = await self._encode()
                except Exception:  # a frame that cannot be drawn is skipped; the next may be fine
                    logger.exception("live view frame failed", extra={"camera": self.camera_id})
                    jpeg = None
                if jpeg is not None:
                    for slot in self._viewers:
                        _offer(slot, jpeg)
                await asyncio.sleep(max(0.0, self._interval_s - (loop.time() - started)))
        finally:
            self._task = None
            self._on_idle()


def _offer(slot: asyncio.Queue[bytes | None], item: bytes | None) -> None:
    """Newest wins: a frame the viewer has not taken yet is replaced."""
    with contextlib.suppress(asyncio.QueueEmpty):
        slot.get_nowait()
    slot.put_nowait(item)


class StreamHub:
    """Every camera's live view; lives on the event loop (not thread-safe, needs no lock)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        fps: float = STREAM_FPS,
        max_per_camera: int = MAX_VIEWERS_PER_CAMERA,
        max_viewers: int = MAX_VIEWERS,
    ) -> None:
        self._interval_s = 1.0 / fps
        self._max_per_camera = max_per_camera
        self._max_viewers = max_viewers
        self._streams: dict[tuple[str, bool, int], CameraStream] = {}
        """Per camera, its plain view and its view with motion outlined, at each size, while watched."""
        self._closed = False
        self._viewers = Gauge(
            "edge_gateway_console_stream_viewers", "Live views being watched.", registry=registry
        )
        self._viewers.set_function(lambda: self.viewers)
        self._encoders = Gauge(
            "edge_gateway_console_stream_encoders",
            "Live views being encoded (one per watched camera and picture: with motion outlined or "
            "not, and each size; none when unwatched).",
            registry=registry,
        )
        self._encoders.set_function(lambda: len(self._streams))
        self._refusals = Counter(
            "edge_gateway_console_stream_refusals_total",
            "Live views refused (503) because the camera's or the gateway's bound on viewers was reached.",
            ["limit"],
            registry=registry,
        )

    @property
    def encoders(self) -> int:
        return len(self._streams)

    @property
    def viewers(self) -> int:
        return sum(stream.viewers for stream in self._streams.values())

    def join(
        self, camera_id: str, encode: Encode, *, motion: bool = False, side: int = LIVE_VIEW_LONGEST_SIDE
    ) -> tuple[CameraStream, asyncio.Queue[bytes | None]]:
        """A new viewer of ``camera_id`` (``motion``: of its view with motion outlined; ``side``: at
        that size; each picture encoded apart); HTTPServiceUnavailable (503, Retry-After) past a
        bound, which counts every view of a camera."""
        if self._closed:
            raise web.HTTPServiceUnavailable(text="the server is stopping")
        key = (camera_id, motion, side)
        stream = self._streams.get(key)
        watching = sum(each.viewers for (camera, _, _), each in self._streams.items() if camera == camera_id)
        if watching >= self._max_per_camera:
            self._refuse(
                "camera",
                f"camera {camera_id!r} already has {watching} live viewers, the most one camera "
                f"serves at once ({self._max_per_camera}): close another view of it, or try again later",
            )
        if (total := self.viewers) >= self._max_viewers:
            self._refuse(
                "total",
                f"the gateway already serves {total} live views, the most it serves at once "
                f"({self._max_viewers}): close another live view, or try again later",
            )
        if stream is None:
            stream = CameraStream(camera_id, encode, self._interval_s, lambda: self._forget(key))
            self._streams[key] = stream
        return stream, stream.join()

    def _refuse(self, limit: str, message: str) -> NoReturn:
        self._refusals.labels(limit).inc()
        raise web.HTTPServiceUnavailable(text=message, headers={"Retry-After": str(REFUSED_RETRY_AFTER_S)})

    def _forget(self, key: tuple[str, bool, int]) -> None:
        self._streams.pop(key, None)

    def close(self) -> None:
        self._closed = True
        for stream in list(self._streams.values()):
            stream.close()


STREAMS: web.AppKey[StreamHub] = web.AppKey("edge_gateway_console_streams", StreamHub)


def add_routes(app: web.Application) -> None:
    app[STREAMS] = StreamHub(app_registry(app))
    app.on_shutdown.append(_close)
    app.router.add_get("/v1/cameras/{camera_id}/stream.mjpeg", stream, name="camera_stream")


def app_registry(app: web.Application) -> CollectorRegistry:
    return app[CONTEXT].metrics.registry


async def _close(app: web.Application) -> None:
    app[STREAMS].close()


async def stream(request: web.Request) -> web.StreamResponse:
    camera_id = request.match_info["camera_id"]
    directory = context_of(request).cameras
    if directory is None or directory.camera(camera_id) is None:
        raise unknown_camera(camera_id, directory)

    motion = motion_view(request)
    side = live_view_side(longest_side_asked(request))

    async def encode() -> bytes | None:
        return await offload(
            request, lambda: directory.snapshot_jpeg(camera_id, motion=motion, longest_side=side)
        )

    def wanted() -> bool:
        # Renamed or removed by a reload: asked for again, its view is a 404 naming it. Its token
        # revoked by a reload, or its session ended: asked for again, a 401.
        return directory.camera(camera_id) is not None and credentials_in_force(request)

    if request.method == "HEAD":
        return web.Response(headers=HEADERS)
    camera_stream, slot = request.app[STREAMS].join(camera_id, encode, motion=motion, side=side)
    try:
        response = web.StreamResponse(headers=HEADERS)
        await response.prepare(request)
        while (jpeg := await _next_frame(request, slot, wanted)) is not None:
            if not credentials_in_force(request):
                break  # revoked while frames kept coming, so ``_next_frame`` never waited to see it
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            await response.write(head.encode("ascii") + jpeg + b"\r\n")
    except ConnectionResetError:
        pass  # the viewer went away: the usual end of a live view
    finally:
        camera_stream.leave(slot)
    return response


def live_view_side(asked: int | None) -> int:
    """The size a live view asked for ``asked`` (None: not asked) is drawn at."""
    if asked is None:
        return LIVE_VIEW_LONGEST_SIDE
    return next((side for side in LIVE_VIEW_SIDES if side >= asked), LIVE_VIEW_LONGEST_SIDE)


async def _next_frame(
    request: web.Request, slot: asyncio.Queue[bytes | None], wanted: Callable[[], bool]
) -> bytes | None:
    """The viewer's next frame; None when the stream ended, the viewer left while waiting, or the
    view is no longer ``wanted`` (its camera no longer configured, where it stayed open with nothing
    to send; its credentials no longer in force)."""
    getter = asyncio.ensure_future(slot.get())
    try:
        while True:
            done, _ = await asyncio.wait({getter}, timeout=GONE_CHECK_S)
            if done:
                return getter.result()
            transport = request.transport
            if transport is None or transport.is_closing() or not wanted():
                return None
    finally:
        getter.cancel()
