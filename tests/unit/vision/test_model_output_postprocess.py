"""postprocess on odd output values, table-tested: what an item's tensors hold when a model file
outputs NaN, infinities or numbers beyond float32, and what ``report`` is told."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from gateway.domain import ModelRef
from gateway.inference.model_config import PostprocessConfig
from gateway.inference.postprocess import (
    NON_FINITE,
    NON_FINITE_ANOMALY_MAP,
    OddOutputs,
    anomaly_map,
    decode,
)
from gateway.inference.preprocess import Letterbox

IDENTITY = Letterbox(scale=1.0, pad_x=0.0, pad_y=0.0, source_width=100, source_height=100)
DETECTOR = PostprocessConfig.model_validate({"kind": "yolov8", "labels": ["person", "car"]})
SCENE = PostprocessConfig.model_validate({"kind": "anomaly", "threshold": 0.5})
NAN, INF = float("nan"), float("inf")


class Reports:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, problem: str, count: int) -> None:
        self.seen.append((problem, count))


@pytest.mark.parametrize(
    "odd",
    [(INF, 50, 10, 10), (50, 50, -INF, 10), (3e38, 3e38, 3e38, 3e38), (1e300, 50, 10, 10)],
    ids=["inf", "minus-inf", "float32-max", "beyond-float32"],
)
def test_one_odd_box_does_not_suppress_the_others_in_nms(odd: tuple[float, ...]) -> None:
    # float64, as a model with FP64 outputs gives it; each anchor scores 0.9 for its own class
    tensor = np.array([[*odd, 0.9, 0.0], [50, 50, 10, 10, 0.8, 0.0], [20, 20, 10, 10, 0.0, 0.7]]).T
    reports = Reports()

    detections, _ = decode({"output0": tensor}, IDENTITY, DETECTOR, reports)

    assert [detection.label for detection in detections] == ["person", "car"]
    assert detections[0].box == pytest.approx((0.45, 0.45, 0.55, 0.55))
    assert detections[1].box == pytest.approx((0.15, 0.15, 0.25, 0.25))
    assert reports.seen == ([(NON_FINITE, 1)] if math.isinf(sum(odd)) else [])


def test_nan_and_infinite_anomaly_map_cells_are_not_anomalous_and_reported() -> None:
    cells = np.array([[NAN, INF], [-INF, 0.9]], dtype=np.float32)
    reports = Reports()

    found = anomaly_map({"score": np.array([0.9]), "map": cells}, SCENE, reports)

    assert found is not None
    assert found.cells.tolist() == [[0.0, 0.0], [0.0, pytest.approx(0.9)]]
    assert reports.seen == [(NON_FINITE_ANOMALY_MAP, 3)]


def test_a_finite_anomaly_map_is_not_reported() -> None:
    reports = Reports()

    found = anomaly_map({"map": np.array([[0.1, 0.7]])}, SCENE, reports)

    assert found is not None
    assert found.cells.tolist() == [[pytest.approx(0.1), pytest.approx(0.7)]]
    assert reports.seen == []


def test_odd_outputs_log_once_per_model_version_and_problem_and_count_every_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counted: list[tuple[ModelRef, str, int]] = []
    odd = OddOutputs(lambda ref, problem, count: counted.append((ref, problem, count)))
    caplog.set_level(logging.WARNING, logger="gateway.inference.postprocess")
    first, second = ModelRef("detector", 1), ModelRef("detector", 2)

    for _ in range(3):
        odd.reporter(first)(NON_FINITE, 2)
    odd.reporter(second)(NON_FINITE, 1)
    odd.reporter(first)(NON_FINITE_ANOMALY_MAP, 4)

    assert [record.getMessage().split(":")[0:2] for record in caplog.records] == [
        ["model detector", "1"],
        ["model detector", "2"],
        ["model detector", "1"],
    ]
    assert len(counted) == 5
    assert counted[-1] == (first, NON_FINITE_ANOMALY_MAP, 4)
