"""``POST /v1/detect``: a JPEG or PNG body in, detections out.

The model comes from ``?model=`` or the ``X-Model-Name`` header (``name`` or ``name:version``);
naming two different ones is refused. Boxes are normalised to the image as a viewer shows it: turned
as its EXIF orientation says (JPEG and PNG), a PNG's transparent pixels white. Other image formats,
form uploads and JPEG codings libjpeg does not decode are refused 415 naming what was sent; bodies
that would cost a decoder far more than their size (too many pixels, JPEG scans, or inflated PNG
bytes; a PNG chunk longer than the body) are refused 400 before decoding.
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
from gateway.api.image_size import png_chunk_past_end, png_data_bytes, png_inflates_past
from gateway.api.middlewares import INFER_PREFIX, expect_continue
from gateway.api.ports import DetectOutput
from gateway.domain import Detection, ModelReference
from gateway.errors import InvalidInputError
from gateway.image_format import (
    JPEG_SIGNATURE,
    JPEG_START,
    PNG_SIGNATURE,
    header_size,
    is_jpeg_or_png,
    jpeg_frame,
)
from gateway.web.query import unknown_parameter

MODEL_HEADER = "X-Model-Name"
DETECT_PARAMETERS = ("model",)
MAX_IMAGE_PIXELS = 50_000_000
"""Largest image decoded: an 8K frame (33 million pixels) or a 48-megapixel phone photo; half of it
for a 16-bit PNG with transparency. A PNG of a few hundred kilobytes can declare 400 million pixels
(1.2 GB decoded); the header says so first."""
MAX_JPEG_SCANS = 256
"""Most scans a JPEG may carry. libjpeg's progressive JPEGs have 10 (6 in grey), a baseline JPEG
one per component at most. Each scan is a pass over the whole image however few bytes it takes: a
1.3 MB progressive JPEG of 7000 x 7000 pixels repeating a 26-byte scan 40,000 times held a decoding
thread for 78 s, where 256 scans cost under half a second."""
PNG_SLACK_BYTES = 65_536
"""Inflated bytes a PNG's image data may run past its rows (and an eighth more) before it is refused.
libpng inflates all of it, to no use: an 8 x 8 PNG carrying 8 MB of deflated zeros (8 GB inflated)
held a decoding thread for 22 s. Checking costs one more inflate, 20 ms for a 1080p PNG."""
_JPEG_START_OF_SCAN = b"\xff\xda"
_JPEG_UNDECODED = {
    **dict.fromkeys((0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF), "a hierarchical JPEG"),
    0xF7: "a JPEG-LS image",
}
"""Start-of-frame markers libjpeg refuses, and what they say the image is."""
_OTHER_FORMATS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF8", "a GIF"),
    (8, b"WEBP", "a WebP"),
    (0, b"BM", "a BMP"),
    (0, b"II*\x00", "a TIFF"),
    (0, b"MM\x00*", "a TIFF"),
    (0, b"\x00\x00\x00\x0cjP  ", "a JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "a JPEG 2000"),
    (0, b"\xff\x0a", "a JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "a JPEG XL"),
)
"""(offset, signature, what it is) for the image formats a client may send by mistake, so that the
refusal can name what it got."""


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
    """Refuse, before decoding, an image over MAX_IMAGE_PIXELS, a JPEG or PNG whose header does
    not say its size (a decoder may still make one of it), a PNG whose data inflates past its
    rows, or a JPEG of more than MAX_JPEG_SCANS scans."""
    frame = jpeg_frame(data)
    if frame is not None and frame[0] in _JPEG_UNDECODED:
        raise web.HTTPUnsupportedMediaType(
            text=f"the body is {_JPEG_UNDECODED[frame[0]]}, which the decoder does not take; "
            "send a baseline, progressive or lossless JPEG, or a PNG"
        )
    size = header_size(data)
    if size is None:
        if data.startswith((PNG_SIGNATURE, JPEG_START)):
            raise InvalidInputError("the image's header does not say its size (corrupt or truncated)")
        return
    limit, kind = MAX_IMAGE_PIXELS, ""
    if _deep_and_transparent(data):
        limit, kind = MAX_IMAGE_PIXELS // 2, " for a 16-bit PNG with transparency"
    if size[0] * size[1] > limit:
        raise InvalidInputError(
            f"the image is {size[0]} x {size[1]} pixels, over the {limit // 1_000_000} "
            f"million /v1/detect decodes{kind}"
        )
    if data.startswith(PNG_SIGNATURE):
        cut = png_chunk_past_end(data)
        if cut is not None:
            kind, length, present = cut
            raise InvalidInputError(
                f"the PNG's {kind!r} chunk declares {length} bytes but the body ends {present} bytes "
                "into it (truncated or corrupt)"
            )
        declared = png_data_bytes(data)
        if declared is not None and png_inflates_past(data, declared + declared // 8 + PNG_SLACK_BYTES):
            raise InvalidInputError(
                f"the PNG's image data inflates past the {declared} bytes its {size[0]} x {size[1]} "
                "pixels take; compressed data beyond the image is refused before decoding"
            )
    if data.startswith(JPEG_START):
        # Inside a scan's coded data every 0xFF is followed by 0x00 or a restart marker, so this
        # counts the scans themselves (and, harmlessly, those of an EXIF thumbnail).
        scans = data.count(_JPEG_START_OF_SCAN)
        if scans > MAX_JPEG_SCANS:
            raise InvalidInputError(
                f"the JPEG carries {scans} scans, over the {MAX_JPEG_SCANS} /v1/detect decodes "
                "(a progressive JPEG has about 10; each costs a pass over the whole image)"
            )


def _deep_and_transparent(data: bytes) -> bool:
    """A 16-bit PNG with transparency: blending it over the background needs it decoded whole at 8
    bytes a pixel (a 7000 x 7000 one peaked at 750 MiB against 280 MiB for the colours alone)."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 26 or data[24] != 16:
        return False
    return data[25] in (4, 6) or b"tRNS" in data


def check_format(start: bytes, content_type: str) -> None:
    """Refuse a body that is not a JPEG or PNG by its first bytes, naming what it is where that is
    known: 415 for another image format or a form upload, 400 for anything else. The Content-Type is
    not required to match (``curl --data-binary`` labels every body as a form)."""
    if is_jpeg_or_png(start):
        return
    if PNG_SIGNATURE.startswith(start) or JPEG_SIGNATURE.startswith(start):
        raise InvalidInputError(f"the body is {len(start)} bytes: a JPEG or PNG cut short in its signature")
    if content_type.startswith("multipart/") or start.startswith(b"--"):
        raise web.HTTPUnsupportedMediaType(
            text="the body is a multipart form; send the image's own bytes as the body "
            "(curl --data-binary @image.jpg), JPEG or PNG"
        )
    known = _other_format(start)
    if known is not None:
        raise web.HTTPUnsupportedMediaType(text=f"the body is {known} image; /v1/detect takes JPEG or PNG")
    if start.startswith((b"/9j/", b"iVBOR", b"data:")):
        raise InvalidInputError("the body is an image as base64 text; send the image's own bytes")
    raise InvalidInputError(f"the body is not a JPEG or PNG image (it starts with {start[:8]!r})")


def _other_format(start: bytes) -> str | None:
    for offset, signature, name in _OTHER_FORMATS:
        if start[offset : offset + len(signature)] == signature:
            return name
    if start[4:8] == b"ftyp":
        return "an AVIF" if start[8:12] in (b"avif", b"avis") else "a HEIF/HEIC"
    return None


async def detect(request: web.Request) -> web.Response:
    started = time.monotonic()
    context = context_of(request)
    # Skipped, a parameter it does not take (min_score=, a threshold other APIs have) answered as
    # if it had been applied.
    unknown = unknown_parameter(request.query, "/v1/detect", DETECT_PARAMETERS)
    if unknown is not None:
        raise InvalidInputError(unknown)
    # A header repeated may arrive joined by commas, which no model name contains.
    from_headers = (
        part.strip() for value in request.headers.getall(MODEL_HEADER, ()) for part in value.split(",")
    )
    named = {*request.query.getall("model", ()), *from_headers} - {""}
    if len(named) > 1:
        # Taking one of them would answer with a model the client may not have meant.
        raise InvalidInputError(
            f"the request names {len(named)} models ({', '.join(sorted(named))}); name one"
        )
    reference = next(iter(named), None)
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
    check_format(bytes(body[:16]), request.content_type)

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
