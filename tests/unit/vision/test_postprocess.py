from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from gateway.domain import Detection
from gateway.errors import InferenceError
from gateway.inference.model_config import PostprocessConfig
from gateway.inference.postprocess import anomaly_map, decode, non_max_suppression
from gateway.inference.preprocess import Letterbox

LABELS = ("person", "car", "dog")
# A 100x100 model input showing a 100x100 frame: model pixels / 100 = normalised coordinates.
IDENTITY = Letterbox(scale=1.0, pad_x=0.0, pad_y=0.0, source_width=100, source_height=100)
Row = tuple[float, float, float, float, Sequence[float]]


def yolov8(*rows: Row, anchors: int = 50) -> npt.NDArray[np.float32]:
    """``[4 + classes, anchors]``: each row is (cx, cy, w, h, class scores); the rest score 0."""
    tensor = np.zeros((4 + len(LABELS), anchors), dtype=np.float32)
    tensor[:4, len(rows) :] = [[50], [50], [10], [10]]
    for index, (cx, cy, w, h, scores) in enumerate(rows):
        tensor[:, index] = [cx, cy, w, h, *scores]
    return tensor


def spec(kind: str = "yolov8", **overrides: Any) -> PostprocessConfig:
    return PostprocessConfig.model_validate({"kind": kind, "labels": LABELS, **overrides})


def run(
    tensor: npt.NDArray[Any], config: PostprocessConfig, letterbox: Letterbox = IDENTITY
) -> list[Detection]:
    detections, score = decode({"output0": tensor}, letterbox, config)
    assert score is None
    return list(detections)


def test_overlapping_boxes_of_one_class_keep_the_best() -> None:
    tensor = yolov8(
        (30, 30, 20, 20, (0.9, 0, 0)), (31, 31, 20, 20, (0.8, 0, 0)), (80, 80, 10, 10, (0.7, 0, 0))
    )
    detections = run(tensor, spec())
    assert [(d.label, round(d.score, 3)) for d in detections] == [("person", 0.9), ("person", 0.7)]
    assert detections[0].box == pytest.approx((0.2, 0.2, 0.4, 0.4))
    assert detections[1].box == pytest.approx((0.75, 0.75, 0.85, 0.85))


def test_nms_is_class_aware() -> None:
    tensor = yolov8((30, 30, 20, 20, (0.9, 0, 0)), (30, 30, 20, 20, (0, 0.8, 0)))
    assert [d.label for d in run(tensor, spec())] == ["person", "car"]


def test_iou_threshold_decides_what_overlap_suppresses() -> None:
    # Two 20x20 boxes shifted by 5: IoU = 300 / 500 = 0.6
    tensor = yolov8((30, 30, 20, 20, (0.9, 0, 0)), (35, 30, 20, 20, (0.8, 0, 0)))
    assert len(run(tensor, spec(iou_threshold=0.65))) == 2
    assert len(run(tensor, spec(iou_threshold=0.55))) == 1


def test_the_best_class_of_an_anchor_names_it_and_thresholds_cut() -> None:
    tensor = yolov8((30, 30, 20, 20, (0.3, 0.6, 0.1)), (70, 70, 20, 20, (0.2, 0.1, 0.24)))
    assert [(d.label, round(d.score, 2)) for d in run(tensor, spec())] == [("car", 0.6)]
    assert run(tensor, spec(score_threshold=0.7)) == []


def test_keep_labels_filters_classes() -> None:
    tensor = yolov8((30, 30, 20, 20, (0.9, 0, 0)), (70, 70, 20, 20, (0, 0, 0.8)))
    assert [d.label for d in run(tensor, spec(keep_labels=["dog"]))] == ["dog"]
    # An anchor whose best class is filtered out does not fall back to a kept class
    tensor = yolov8((30, 30, 20, 20, (0.9, 0, 0.5)))
    assert run(tensor, spec(keep_labels=["dog"])) == []


def test_max_detections_keeps_the_highest_scores() -> None:
    rows: list[Row] = [(5 + 10 * i, 50, 8, 8, (0.3 + 0.05 * i, 0, 0)) for i in range(10)]
    detections = run(yolov8(*rows), spec(max_detections=3))
    assert [round(d.score, 2) for d in detections] == [0.75, 0.7, 0.65]


def test_letterbox_is_undone_and_boxes_are_clipped() -> None:
    # Given a 640x360 frame letterboxed into 320x320 (scale 0.5, 70 rows of padding on top)
    letterbox = Letterbox(scale=0.5, pad_x=0.0, pad_y=70.0, source_width=640, source_height=360)
    tensor = yolov8(
        (160, 160, 160, 90, (0.9, 0, 0)),  # the middle quarter of the frame
        (10, 80, 40, 40, (0, 0.8, 0)),  # sticks out of the frame's top-left corner
        (160, 20, 40, 20, (0, 0, 0.9)),  # entirely inside the padding
    )
    detections = run(tensor, spec(), letterbox)
    assert [d.label for d in detections] == ["person", "car"]
    assert detections[0].box == pytest.approx((0.25, 0.25, 0.75, 0.75))
    assert detections[1].box == pytest.approx((0.0, 0.0, 30 * 2 / 640, 30 * 2 / 360))


def test_yolov5_layout_multiplies_objectness_into_class_scores() -> None:
    tensor = np.zeros((20, 5 + len(LABELS)), dtype=np.float32)
    tensor[:, :4] = [50, 50, 10, 10]
    tensor[0] = [30, 30, 20, 20, 0.9, 0.1, 0.9, 0.2]  # car at 0.81
    tensor[1] = [70, 70, 20, 20, 0.2, 1.0, 0.0, 0.0]  # objectness below the threshold
    tensor[2] = [70, 30, 20, 20, 0.5, 0.4, 0.0, 0.0]  # 0.2 after multiplying
    detections = run(tensor, spec("yolov5"))
    assert [(d.label, round(d.score, 2)) for d in detections] == [("car", 0.81)]
    assert detections[0].box == pytest.approx((0.2, 0.2, 0.4, 0.4))


def test_wrong_layouts_are_named() -> None:
    with pytest.raises(InferenceError, match=r"yolov8 output must be \[4 \+ 3 classes"):
        run(np.zeros((84, 100), dtype=np.float32), spec())
    with pytest.raises(InferenceError, match="yolov5 output must be"):
        run(np.zeros((7, 100), dtype=np.float32), spec("yolov5"))
    with pytest.raises(InferenceError, match="'missing' to decode is missing"):
        decode({"output0": yolov8()}, IDENTITY, spec(output="missing"))


def test_the_named_output_is_decoded() -> None:
    tensor = yolov8((30, 30, 20, 20, (0.9, 0, 0)))
    outputs = {"map": np.zeros((2, 2), dtype=np.float32), "boxes": tensor}
    detections, _ = decode(outputs, IDENTITY, spec(output="boxes"))
    assert [d.label for d in detections] == ["person"]


def test_kind_none_decodes_nothing() -> None:
    assert decode({"x": np.zeros(3)}, IDENTITY, PostprocessConfig()) == ((), None)


def anomaly_spec(threshold: float = 0.6) -> PostprocessConfig:
    return PostprocessConfig(kind="anomaly", threshold=threshold, output="score")


@pytest.mark.parametrize(
    ("score", "anomalous"),
    [(0.2, False), (0.6, True), (0.95, True), (float("nan"), False)],
)
def test_anomaly_score_at_or_above_threshold_is_one_boxless_detection(score: float, anomalous: bool) -> None:
    outputs = {"map": np.zeros((8, 8), dtype=np.float32), "score": np.array([score], dtype=np.float32)}
    detections, frame_score = decode(outputs, IDENTITY, anomaly_spec())
    # NaN is no measurement: no frame score either (a JSON answer could not carry it)
    assert frame_score == (None if math.isnan(score) else pytest.approx(score))
    expected = (Detection("anomaly", pytest.approx(score), None),) if anomalous else ()  # type: ignore[arg-type]
    assert detections == expected


def test_anomaly_scores_above_one_are_reported_raw_and_clipped_in_the_detection() -> None:
    detections, frame_score = decode({"score": np.array(7.5)}, IDENTITY, anomaly_spec(threshold=3.0))
    assert frame_score == 7.5
    assert detections == (Detection("anomaly", 1.0, None),)


def test_anomaly_needs_a_scalar_score() -> None:
    config = PostprocessConfig(kind="anomaly", threshold=0.5)
    with pytest.raises(InferenceError, match=r"point postprocess\.output at the frame score"):
        decode({"map": np.zeros((8, 8), dtype=np.float32)}, IDENTITY, config)


def test_an_anomaly_model_s_map_is_judged_against_its_threshold() -> None:
    cells = np.zeros((6, 8), dtype=np.float32)
    cells[2, 3] = 0.9
    found = anomaly_map({"score": np.array([0.9]), "map": cells}, anomaly_spec())
    assert found is not None
    assert found.threshold == 0.6
    np.testing.assert_array_equal(found.cells, cells)
    assert found.cell_box(2, 3) == (3 / 8, 2 / 6, 4 / 8, 3 / 6)


def test_a_named_map_output_must_be_there_and_two_dimensional() -> None:
    spec = PostprocessConfig(kind="anomaly", threshold=0.5, output="score", map_output="cells")
    assert anomaly_map({"score": np.array([0.1])}, anomaly_spec()) is None
    with pytest.raises(InferenceError, match="map output 'cells' is missing"):
        anomaly_map({"score": np.array([0.1])}, spec)
    with pytest.raises(InferenceError, match=r"must be \[rows, columns\]"):
        anomaly_map({"score": np.array([0.1]), "cells": np.zeros(4, dtype=np.float32)}, spec)


def test_detectors_have_no_anomaly_map() -> None:
    assert anomaly_map({"map": np.zeros((2, 2), dtype=np.float32)}, PostprocessConfig()) is None


def naive_nms(
    boxes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    classes: npt.NDArray[np.intp],
    threshold: float,
) -> list[int]:
    def iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
        width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        overlap = width * height
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
        return float(overlap / union) if union > 0 else 0.0

    kept: list[int] = []
    for index in sorted(range(len(boxes)), key=lambda i: -scores[i]):
        if all(classes[k] != classes[index] or iou(boxes[k], boxes[index]) <= threshold for k in kept):
            kept.append(index)
    return kept


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_nms_matches_the_textbook_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 600, (300, 2)).astype(np.float32)
    sizes = rng.uniform(5, 120, (300, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + sizes], axis=1)
    scores = (rng.permutation(300) / 300).astype(np.float32)
    classes = rng.integers(0, 4, 300).astype(np.intp)
    kept = non_max_suppression(boxes, scores, classes, 0.45, limit=1000)
    assert kept.tolist() == naive_nms(boxes, scores, classes, 0.45)
    assert non_max_suppression(boxes, scores, classes, 0.45, limit=7).tolist() == kept[:7].tolist()


def test_nms_of_nothing_is_nothing() -> None:
    empty = np.empty((0, 4), dtype=np.float32)
    assert non_max_suppression(empty, np.empty(0, np.float32), np.empty(0, np.intp), 0.5, 10).size == 0
