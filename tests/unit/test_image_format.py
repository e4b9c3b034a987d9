"""The JPEG and PNG signatures are written once (``gateway.image_format``), for the HTTP side that
reads an image's size and the inference side that decodes it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.image_format import JPEG_SIGNATURE, JPEG_START, PNG_SIGNATURE, header_size, is_jpeg_or_png

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "gateway"


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_what_opencv_encodes_starts_with_a_signature(extension: str) -> None:
    ok, encoded = cv2.imencode(extension, np.zeros((8, 8, 3), dtype=np.uint8))
    assert ok
    assert is_jpeg_or_png(encoded.tobytes())


@pytest.mark.parametrize(
    "body",
    [b"", JPEG_START, JPEG_START + b"\x00\xff", PNG_SIGNATURE[:7], b"GIF89a", b"BM" + bytes(60)],
    ids=["empty", "start-of-image-alone", "no-marker-after-it", "short-png", "gif", "bmp"],
)
def test_other_bodies_are_neither(body: bytes) -> None:
    assert not is_jpeg_or_png(body)


def test_the_signatures_are_written_in_one_module() -> None:
    written = [
        path.relative_to(PACKAGE_ROOT).as_posix()
        for path in sorted(PACKAGE_ROOT.rglob("*.py"))
        if any(signature in path.read_text(encoding="utf-8") for signature in (r"\x89PNG", r"\xff\xd8"))
    ]
    assert written == ["image_format.py"]
    assert JPEG_SIGNATURE.startswith(JPEG_START)


def encoded(extension: str, width: int = 32, height: int = 18) -> bytes:
    ok, data = cv2.imencode(extension, np.zeros((height, width, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_the_header_gives_an_images_width_and_height(extension: str) -> None:
    assert header_size(encoded(extension)) == (32, 18)


def test_a_jpegs_size_is_read_past_its_metadata() -> None:
    # Given: an EXIF-sized APP1 segment between the start of image and the frame, as cameras write
    data = encoded(".jpg")
    metadata = b"Exif\x00\x00" + bytes(40_000)
    data = data[:2] + b"\xff\xe1" + (len(metadata) + 2).to_bytes(2, "big") + metadata + data[2:]
    assert header_size(data) == (32, 18)


@pytest.mark.parametrize("extension", [".jpg", ".png", ".bmp"])
def test_no_size_from_a_cut_header_or_another_format(extension: str) -> None:
    data = encoded(extension)
    assert header_size(data[:20]) is None
    if extension == ".bmp":
        assert header_size(data) is None
