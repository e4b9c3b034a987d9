"""The JPEG and PNG signatures are written once (``gateway.image_format``), for the HTTP side that
reads an image's size and the inference side that decodes it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.image_format import JPEG_SIGNATURE, JPEG_START, PNG_SIGNATURE, is_jpeg_or_png

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
