"""``POST /v1/detect`` on grey and RGB PNGs whose tRNS chunk names a transparent colour: its pixels
are seen over white, like those of palette and RGBA PNGs, not as the colour they are stored as."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from gateway.image_format import PNG_SIGNATURE
from tests.integration.api.conftest import Gateway
from tests.support.onnx_models import write_mean_score_model

BRIGHTNESS = "/v1/detect?model=brightness"
"""A model whose score is the image's mean brightness: 0 for black, 1 for white."""
GREY, RGB = 0, 2


@pytest.fixture
def model_repository(model_repository: Path) -> Path:
    write_mean_score_model(model_repository, "brightness", size=8, threshold=0.5)
    return model_repository


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def black_png(depth: int, colour: int, key: tuple[int, ...] | None, size: int = 16) -> bytes:
    """A black ``size`` x ``size`` PNG (``key`` as its tRNS, if any)."""
    samples = 1 if colour == GREY else 3
    row = bytes(1 + size * samples * depth // 8)
    header = struct.pack(">IIBBBBB", size, size, depth, colour, 0, 0, 0)
    transparent = b"" if key is None else chunk(b"tRNS", struct.pack(f">{len(key)}H", *key))
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + transparent
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


def brightness(gateway: Gateway, data: bytes) -> float:
    reply = gateway.api.request("POST", BRIGHTNESS, data)
    assert reply.status == 200, reply.body
    score = reply.json()["anomaly_score"]
    assert isinstance(score, float)
    return score


@pytest.mark.parametrize(
    ("depth", "colour", "key"),
    [
        (1, GREY, (0,)),
        (4, GREY, (0,)),
        (8, GREY, (0,)),
        (16, GREY, (0,)),
        (8, RGB, (0, 0, 0)),
        (16, RGB, (0, 0, 0)),
    ],
    ids=["grey-1-bit", "grey-4-bit", "grey-8-bit", "grey-16-bit", "rgb-8-bit", "rgb-16-bit"],
)
def test_black_under_a_colour_key_is_seen_as_white(
    gateway: Gateway, depth: int, colour: int, key: tuple[int, ...]
) -> None:
    # Given a black PNG whose tRNS makes black transparent, and the same PNG without it
    assert brightness(gateway, black_png(depth, colour, key)) == pytest.approx(1.0, abs=1e-6)
    assert brightness(gateway, black_png(depth, colour, None)) == pytest.approx(0.0, abs=1e-6)


def test_a_key_of_another_colour_leaves_the_image_opaque(gateway: Gateway) -> None:
    assert brightness(gateway, black_png(8, GREY, (1,))) == pytest.approx(0.0, abs=1e-6)
    assert brightness(gateway, black_png(16, GREY, (1,))) == pytest.approx(0.0, abs=1e-6)
