"""``POST /v1/detect`` refuses, before decoding, the small bodies that would hold a decoding thread
for minutes: a JPEG of more scans than any encoder writes (each is a pass over the whole image), a
PNG whose compressed data runs far past its rows (libpng inflates all of it)."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from gateway.api.detect import MAX_JPEG_SCANS
from tests.integration.api.conftest import DETECTOR_SIZE, Gateway

END_OF_IMAGE = b"\xff\xd9"
START_OF_SCAN = b"\xff\xda"


def progressive_jpeg() -> bytes:
    image = np.full((DETECTOR_SIZE, DETECTOR_SIZE, 3), 90, dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    encoded: bytes = data.tobytes()
    assert encoded.endswith(END_OF_IMAGE)
    return encoded


def with_last_scan_repeated(data: bytes, times: int) -> bytes:
    last_scan = data[data.rfind(START_OF_SCAN) : -len(END_OF_IMAGE)]
    return data[: -len(END_OF_IMAGE)] + last_scan * times + END_OF_IMAGE


def test_a_jpeg_of_repeated_scans_is_refused_naming_them(gateway: Gateway) -> None:
    # Given a valid progressive JPEG whose last scan is repeated past the limit (libjpeg still
    # decodes it, warning of an inconsistent progression, one pass over the image per scan)
    data = progressive_jpeg()
    bomb = with_last_scan_repeated(data, MAX_JPEG_SCANS)
    # When it is posted, then it is refused before decoding, with the count and the limit
    reply = gateway.api.request("POST", "/v1/detect?model=detector", bomb)
    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert f"{data.count(START_OF_SCAN) + MAX_JPEG_SCANS} scans" in error
    assert str(MAX_JPEG_SCANS) in error


def test_a_progressive_jpeg_is_detected_on(gateway: Gateway) -> None:
    reply = gateway.api.request("POST", "/v1/detect?model=detector", progressive_jpeg())
    assert reply.status == 200, reply.body
    assert [detection["label"] for detection in reply.json()["detections"]] == ["cat"]


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_with_data_after_its_rows(extra: int) -> bytes:
    """A grey 32 x 32 PNG whose one deflate stream goes on for ``extra`` zero bytes past its rows."""
    rows = (b"\x00" + bytes([90]) * 3 * DETECTOR_SIZE) * DETECTOR_SIZE
    header = struct.pack(">IIBBBBB", DETECTOR_SIZE, DETECTOR_SIZE, 8, 2, 0, 0, 0)
    data = zlib.compress(rows + bytes(extra), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_a_png_inflating_far_past_its_rows_is_refused(gateway: Gateway) -> None:
    # Given 3 KB of pixels and 32 MB of zeros after them, in a body of about 32 KB
    bomb = png_with_data_after_its_rows(32 << 20)
    reply = gateway.api.request("POST", "/v1/detect?model=detector", bomb)
    assert reply.status == 400, reply.body
    rows = (1 + 3 * DETECTOR_SIZE) * DETECTOR_SIZE
    assert reply.json()["error"] == (
        f"the PNG's image data inflates past the {rows} bytes its {DETECTOR_SIZE} x {DETECTOR_SIZE} "
        "pixels take; compressed data beyond the image is refused before decoding"
    )


def test_a_png_with_a_little_data_past_its_rows_is_still_detected_on(gateway: Gateway) -> None:
    # libpng warns ("too much image data") and decodes it: so does /v1/detect
    reply = gateway.api.request("POST", "/v1/detect?model=detector", png_with_data_after_its_rows(100))
    assert reply.status == 200, reply.body
    assert [detection["label"] for detection in reply.json()["detections"]] == ["cat"]


def test_a_png_chunk_declaring_more_than_the_body_holds_is_refused(gateway: Gateway) -> None:
    # Given a valid PNG whose first chunk after IHDR (OpenCV's PNG has none: the IDAT) says it is
    # 3 GB long: OpenCV allocated all of it before finding the body short
    ok, encoded = cv2.imencode(".png", np.full((DETECTOR_SIZE, DETECTOR_SIZE, 3), 90, dtype=np.uint8))
    assert ok
    data = encoded.tobytes()
    after_header = 8 + 25
    kind = data[after_header + 4 : after_header + 8]
    lying = data[:after_header] + struct.pack(">I", 3_000_000_000) + data[after_header + 4 :]
    reply = gateway.api.request("POST", "/v1/detect?model=detector", lying)
    assert reply.status == 400, reply.body
    present = len(data) - after_header - 8
    assert reply.json()["error"] == (
        f"the PNG's {kind.decode()!r} chunk declares 3000000000 bytes but the body ends {present} bytes "
        "into it (truncated or corrupt)"
    )
