"""``POST /v1/detect`` through the real service: decode, letterbox, a real ONNX model, YOLOv8 decoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.integration.api.conftest import DETECTOR_BOX, DETECTOR_SIZE, Gateway


def encoded(width: int, height: int, extension: str) -> bytes:
    image = np.full((height, width, 3), 90, dtype=np.uint8)
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_detect_returns_the_models_box_in_image_coordinates(gateway: Gateway, extension: str) -> None:
    reply = gateway.api.request(
        "POST", "/v1/detect?model=detector", encoded(DETECTOR_SIZE, DETECTOR_SIZE, extension)
    )
    assert reply.status == 200, reply.body
    result = reply.json()
    assert result["model"] == {"name": "detector", "version": 1}
    assert result["anomaly_score"] is None
    (detection,) = result["detections"]
    assert detection["label"] == "cat"
    assert detection["score"] == pytest.approx(0.9)
    centre_x, centre_y, width, height = (value / DETECTOR_SIZE for value in DETECTOR_BOX)
    expected = [centre_x - width / 2, centre_y - height / 2, centre_x + width / 2, centre_y + height / 2]
    assert detection["box"] == pytest.approx(expected, abs=1e-6)


def test_detect_undoes_the_letterbox(gateway: Gateway) -> None:
    # A 64x32 image is scaled to 32x16 and padded by 8 rows above and below: the model's box at
    # y 12..20 of 32 covers rows 4..12 of the 16 image rows, i.e. 0.25..0.75 of the height.
    reply = gateway.api.request("POST", "/v1/detect", encoded(64, 32, ".png"), {"X-Model-Name": "detector:1"})
    assert reply.status == 200, reply.body
    (detection,) = reply.json()["detections"]
    assert detection["box"] == pytest.approx([0.375, 0.25, 0.625, 0.75], abs=1e-6)


def test_detect_on_a_raw_tensor_model_is_a_clear_400(gateway: Gateway) -> None:
    reply = gateway.api.request("POST", "/v1/detect?model=affine", encoded(8, 8, ".png"))
    assert reply.status == 400
    assert "/v2 infer" in reply.json()["error"]


@pytest.mark.parametrize(
    ("query", "header"),
    [("?model=detector&model=affine", None), ("?model=detector", "detector:2"), ("", "detector, affine")],
    ids=["query-twice", "query-and-header", "header-list"],
)
def test_two_models_named_is_a_400_naming_both(gateway: Gateway, query: str, header: str | None) -> None:
    headers = {} if header is None else {"X-Model-Name": header}
    reply = gateway.api.request("POST", f"/v1/detect{query}", encoded(8, 8, ".png"), headers)
    assert reply.status == 400, reply.body
    assert "names 2 models" in reply.json()["error"]


def test_the_same_model_named_twice_is_served(gateway: Gateway) -> None:
    reply = gateway.api.request(
        "POST", "/v1/detect?model=detector", encoded(8, 8, ".png"), {"X-Model-Name": "detector"}
    )
    assert reply.status == 200, reply.body
