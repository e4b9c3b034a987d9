"""``POST /v1/detect`` on PNGs with transparency: the model sees the image as a viewer shows it, its
transparent pixels white, never the colour an encoder left stored under them."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from tests.integration.api.conftest import Gateway
from tests.support.onnx_models import write_mean_score_model

BRIGHTNESS = "/v1/detect?model=brightness"
"""A model whose score is the image's mean brightness: 0 for black, 1 for white."""
PNG_HEADER_END = 33
"""The signature (8 bytes) and the IHDR chunk (25): where an ancillary chunk may go."""


@pytest.fixture
def model_repository(model_repository: Path) -> Path:
    write_mean_score_model(model_repository, "brightness", size=8, threshold=0.5)
    return model_repository


def png(pixels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16]) -> bytes:
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return bytes(data.tobytes())


def bgra(alpha: int, width: int = 16, height: int = 16) -> npt.NDArray[np.uint8]:
    """Black pixels stored under ``alpha`` (0 transparent, 255 opaque)."""
    pixels = np.zeros((height, width, 4), dtype=np.uint8)
    pixels[:, :, 3] = alpha
    return pixels


def brightness(gateway: Gateway, data: bytes) -> float:
    reply = gateway.api.request("POST", BRIGHTNESS, data)
    assert reply.status == 200, reply.body
    score = reply.json()["anomaly_score"]
    assert isinstance(score, float)
    return score


@pytest.mark.parametrize(("alpha", "expected"), [(0, 1.0), (128, 127 / 255), (255, 0.0)])
def test_black_stored_under_transparency_is_seen_over_white(
    gateway: Gateway, alpha: int, expected: float
) -> None:
    assert brightness(gateway, png(bgra(alpha))) == pytest.approx(expected, abs=1e-6)


def test_a_sixteen_bit_transparent_png_is_seen_over_white(gateway: Gateway) -> None:
    pixels = np.zeros((16, 16, 4), dtype=np.uint16)
    assert brightness(gateway, png(pixels)) == pytest.approx(1.0, abs=1e-6)


def test_a_transparent_colour_key_is_seen_as_white(gateway: Gateway) -> None:
    # Given an RGB PNG (no alpha channel) whose tRNS chunk makes its one colour, black, transparent
    data = png(np.zeros((16, 16, 3), dtype=np.uint8))
    transparent = chunk(b"tRNS", struct.pack(">HHH", 0, 0, 0))
    assert brightness(gateway, data[:PNG_HEADER_END] + transparent + data[PNG_HEADER_END:]) == 1.0


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def with_orientation(data: bytes, orientation: int) -> bytes:
    """The PNG with an eXIf chunk saying how to turn it (big-endian TIFF, one IFD entry)."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    exif = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)
    return data[:PNG_HEADER_END] + chunk(b"eXIf", exif) + data[PNG_HEADER_END:]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_transparent_png_is_turned_as_its_exif_orientation_says(gateway: Gateway, orientation: int) -> None:
    # Given a 64 x 32 image: turned a quarter (orientations 5 to 8) it is shown 32 x 64, and the
    # detector's fixed box lands on other normalised coordinates once the letterbox is undone
    shown_width, shown_height = (32, 64) if orientation >= 5 else (64, 32)
    plain = gateway.api.request(
        "POST", "/v1/detect?model=detector", png(bgra(255, shown_width, shown_height))
    )
    turned = gateway.api.request(
        "POST", "/v1/detect?model=detector", with_orientation(png(bgra(200, 64, 32)), orientation)
    )
    assert plain.status == turned.status == 200, (plain.body, turned.body)
    assert turned.json()["detections"] == plain.json()["detections"]


def declaring(data: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR saying another size (and a CRC to match)."""
    header = data[12:16] + struct.pack(">II", width, height) + data[24:29]
    return data[:8] + struct.pack(">I", 13) + header + struct.pack(">I", zlib.crc32(header)) + data[33:]


def test_a_sixteen_bit_transparent_png_has_half_the_pixel_limit(gateway: Gateway) -> None:
    # Blended whole at 8 bytes a pixel: 30 million of them is refused from the header alone
    deep = declaring(png(np.zeros((16, 16, 4), dtype=np.uint16)), 6000, 5000)
    reply = gateway.api.request("POST", BRIGHTNESS, deep)
    assert reply.status == 400, reply.body
    assert reply.json()["error"] == (
        "the image is 6000 x 5000 pixels, over the 25 million /v1/detect decodes "
        "for a 16-bit PNG with transparency"
    )
    # while an 8-bit one of that size passes the header check (and fails to decode: no pixels)
    shallow = declaring(png(bgra(0)), 6000, 5000)
    reply = gateway.api.request("POST", BRIGHTNESS, shallow)
    assert reply.status == 400, reply.body
    assert "could not be decoded" in reply.json()["error"]
