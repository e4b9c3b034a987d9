"""The evidence encoder on real images with OpenCV's JPEG: shape, scaling, digest, failures."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from gateway.config import EvidenceConfig
from gateway.delivery.evidence import EvidenceEncoder, encode_evidence
from gateway.errors import EvidenceError


def scene(width: int, height: int) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, :, 1] = np.linspace(0, 255, width, dtype=np.uint8)
    cv2.circle(image, (width // 2, height // 2), min(width, height) // 4, (0, 0, 255), -1)
    return image


@pytest.mark.parametrize(
    ("width", "height", "max_width", "expected"),
    [(1280, 720, 1280, (1280, 720)), (1920, 1080, 1280, (1280, 720)), (640, 360, 1280, (640, 360)),
     (1001, 333, 500, (500, 166))],
)  # fmt: skip
def test_wide_frames_are_scaled_down_never_up(
    width: int, height: int, max_width: int, expected: tuple[int, int]
) -> None:
    made = encode_evidence(scene(width, height), quality=85, max_width=max_width)
    decoded = cv2.imdecode(np.frombuffer(made.data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert (made.evidence.width, made.evidence.height) == expected
    assert decoded.shape[1::-1] == expected
    assert made.evidence.sha256 == hashlib.sha256(made.data).hexdigest()
    assert made.evidence.bytes == len(made.data)
    assert made.evidence.type == "image/jpeg"
    assert made.data[:3] == b"\xff\xd8\xff"


def test_quality_trades_bytes_for_fidelity() -> None:
    image = scene(640, 360)
    low = encode_evidence(image, quality=30, max_width=1280)
    high = encode_evidence(image, quality=95, max_width=1280)
    assert low.evidence.bytes < high.evidence.bytes


def test_what_is_not_an_image_is_an_evidence_error() -> None:
    with pytest.raises(EvidenceError, match="not an 8-bit image"):
        encode_evidence(np.zeros((10, 10, 3), dtype=np.float32), quality=85, max_width=1280)


def test_the_encoder_thread_answers_in_order_and_fails_after_stop() -> None:
    registry = CollectorRegistry()
    encoder = EvidenceEncoder(EvidenceConfig(), registry)
    encoder.start()
    futures = [encoder.encode(scene(320 + step, 180)) for step in range(5)]
    assert [future.result(10).evidence.width for future in futures] == [320, 321, 322, 323, 324]
    assert registry.get_sample_value("edge_gateway_evidence_images_total") == 5
    assert registry.get_sample_value("edge_gateway_evidence_encode_cpu_seconds_count") == 5
    encoder.stop()
    assert not encoder.alive
    with pytest.raises(EvidenceError, match="stopped"):
        encoder.encode(scene(32, 32)).result(1)
