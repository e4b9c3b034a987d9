"""``POST /v1/detect`` on animated PNGs (made by ffmpeg) whose eXIf says to turn them: the model sees
the first frame turned, with or without an alpha channel. OpenCV 4.11 on reads no eXIf of an animated
PNG, while the transparent path turned it: one image was seen two ways by its alpha alone."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.integration.api.conftest import Gateway

PNG_HEADER_END = 33
"""The signature (8 bytes) and the IHDR chunk (25)."""


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def with_orientation(data: bytes, orientation: int, *, after_data: bool) -> bytes:
    """The PNG with an eXIf chunk saying how to turn it (big-endian TIFF, one IFD entry)."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    exif = chunk(
        b"eXIf", b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)
    )
    at = data.rindex(b"IEND") - 4 if after_data else PNG_HEADER_END
    return data[:at] + exif + data[at:]


def animated_png(tmp_path: Path, pixel_format: str) -> bytes:
    """Three 64 x 32 frames as an animated PNG, as ffmpeg writes one."""
    path = tmp_path / f"{pixel_format}.png"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
         f"testsrc=size=64x32:rate=5,trim=end_frame=3,format={pixel_format}",
         "-plays", "0", "-f", "apng", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    data = path.read_bytes()
    assert b"acTL" in data
    return data


def detections(gateway: Gateway, data: bytes) -> Any:
    reply = gateway.api.request("POST", "/v1/detect?model=detector", data)
    assert reply.status == 200, reply.body
    return reply.json()["detections"]


@pytest.mark.parametrize("after_data", [False, True], ids=["before-IDAT", "after-IDAT"])
def test_an_animated_png_is_turned_with_or_without_transparency(
    gateway: Gateway, tmp_path: Path, after_data: bool
) -> None:
    # Given: a 32 x 64 still (a quarter turn of 64 x 32): the detector's fixed box lands on other
    # normalised coordinates on a turned image once the letterbox is undone
    ok, still = cv2.imencode(".png", np.zeros((64, 32, 3), dtype=np.uint8))
    assert ok
    turned = detections(gateway, bytes(still.tobytes()))
    for pixel_format in ("rgb24", "rgba"):
        data = with_orientation(animated_png(tmp_path, pixel_format), 6, after_data=after_data)
        assert detections(gateway, data) == turned, pixel_format
