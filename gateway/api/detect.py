"""``POST /v1/detect``: a JPEG or PNG body in, detections out.

The model comes from ``?model=`` or the ``X-Model-Name`` header (``name`` or ``name:version``).
Decoding (and the backend's resize) runs on the API's small thread pool: a 1080p JPEG takes
milliseconds to decode, which would otherwise stall every other request on the event loop.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Any

from aiohttp import web

from gateway.api.context import (
    check_deadline,
    check_queue,
    context_of,
    deadline_of,
    offload,
    read_body,
    release_admission,
    wait_result,
)
from gateway.api.image_size import image_size
from gateway.api.middlewares import INFER_PREFIX, expect_continue
from gateway.api.ports import DetectOutput
from gateway.domain import Detection, ModelReference
from gateway.errors import InvalidInputError
from gateway.image_format import JPEG_START, PNG_SIGNATURE

MODEL_HEADER = "X-Model-Name"
MAX_IMAGE_PIXELS = 50_000_000
"""Largest image decoded: an 8K frame (33 million pixels) or a 48-megapixel phone photo. A PNG of
a few hundred kilobytes can declare 400 million pixels (1.2 GB decoded); the header says so first."""


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/detect", detect, name=f"{INFER_PREFIX}detect", expect_handler=expect_continue)


def detection_json(detection: Detection) -> dict[str, Any]:
    return {
        "label": detection.label,
        "score": float(detection.score),
        "box": None if detection.box is None else [float(value) for value in detection.box],
        "track_id": detection.track_id,
    }


def check_size(data: bytes) -> None:
    """Refuse, before decoding, an image over MAX_IMAGE_PIXELS, or a JPEG or PNG whose header does
    not say its size (a decoder may still make one of it)."""
    size = image_size(data)
    if size is None:
        if data.startswith((PNG_SIGNATURE, JPEG_START)):
            raise InvalidInputError("the image's header does not say its size (corrupt or truncated)")
        return
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise InvalidInputError(
            f"the image is {size[0]} x {size[1]} pixels, over the {MAX_IMAGE_PIXELS // 1_000_000} "
            "million /v1/detect decodes"
        )


async def detect(request: web.Request) -> web.Response:
    started = time.monotonic()
    context = context_of(request)
    reference = request.query.get("model") or request.headers.get(MODEL_HEADER)
    if not reference:
        raise InvalidInputError(f"name the model with ?model= or the {MODEL_HEADER} header")
    try:
        model = ModelReference.parse(reference)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    name, version = model.name, model.version
    deadline = deadline_of(request, started)
    check_deadline(deadline)
    body = await read_body(request)
    if not body:
        raise InvalidInputError("the body is empty; send a JPEG or PNG image")

    def submit() -> Future[DetectOutput]:
        # Decoding, letterboxing and scaling happen when the image is handed over: milliseconds.
        data = bytes(body)
        check_size(data)
        return context.backend.detect_encoded(name, version, data, deadline)

    check_queue(context)
    future = await offload(request, submit)
    release_admission(request)  # queued now, and counted there
    result = await wait_result(future, deadline)
    return web.json_response(
        {
            "model": {"name": result.model.name, "version": result.model.version},
            "detections": [detection_json(detection) for detection in result.detections],
            "anomaly_score": None if result.anomaly_score is None else float(result.anomaly_score),
        }
    )
