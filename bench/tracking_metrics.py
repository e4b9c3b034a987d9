"""Scoring a tracker's output against a clip's ground-truth tracks: CLEAR MOT and identity metrics.

``motmetrics`` (py-motmetrics) computes MOTA, IDF1 and ID switches from a per-frame accumulator.
With numpy 2 its ``distances.iou_matrix`` is broken (it calls ``np.asfarray``, removed in numpy
2.0), so the distances are computed here (``box_iou``); the accumulator and the metrics work.

Truth per judged frame: every mover whose face box is at least ``VISIBLE`` visible (not behind a
pole or another mover, inside the frame), with the box clipped to the frame. A mover less visible
than that is "don't care": a tracked detection on it is neither a hit nor a false positive (it is
dropped before scoring, as MOTChallenge does with its ignore regions). Hypotheses: the detections
the tracker gave a track id (tentative ones have none: until confirmed an object counts as missed).
A hypothesis matches a truth box at IoU >= ``MATCH_IOU``. ID switches per 100 track-frames =
100 x switches / truth boxes judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import motmetrics
import numpy as np

from gateway.domain import Detection

Box = tuple[float, float, float, float]

VISIBLE = 0.5
MATCH_IOU = 0.5


def box_iou(a: Box, b: Box) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union > 0 else 0.0


def clip_box(box: Box) -> Box:
    x1, y1, x2, y2 = (min(1.0, max(0.0, value)) for value in box)
    return (x1, y1, x2, y2)


@dataclass(frozen=True, slots=True)
class TruthBox:
    object_id: int
    """motmetrics needs numbers for ids."""
    box: Box
    visibility: float


@dataclass(frozen=True, slots=True)
class MotScore:
    frames: int
    truth_boxes: int
    objects: int
    mota: float
    idf1: float
    id_switches: int
    false_positives: int
    misses: int
    ignored_hypotheses: int
    detector_recall: float
    """Share of truth boxes some raw detection (tracked or not) overlaps at MATCH_IOU."""

    @property
    def switches_per_100(self) -> float:
        return 100.0 * self.id_switches / self.truth_boxes if self.truth_boxes else 0.0


def score(frames: Sequence[tuple[int, Sequence[TruthBox], Sequence[Detection]]]) -> MotScore:
    """``frames``: (frame id, truth on it, the tracker's detections on it), in time order."""
    accumulator = motmetrics.MOTAccumulator(auto_id=False)
    ignored = found = judged = 0
    for frame_id, truth, detections in frames:
        valid = [item for item in truth if item.visibility >= VISIBLE]
        hidden = [clip_box(item.box) for item in truth if item.visibility < VISIBLE]
        boxes = [clip_box(item.box) for item in valid]
        judged += len(boxes)
        found += sum(
            1
            for box in boxes
            if any(d.box is not None and box_iou(d.box, box) >= MATCH_IOU for d in detections)
        )
        hypotheses = []
        for detection in detections:
            if detection.track_id is None or detection.box is None:
                continue
            on_valid = any(box_iou(detection.box, box) >= MATCH_IOU for box in boxes)
            if not on_valid and any(box_iou(detection.box, box) >= MATCH_IOU for box in hidden):
                ignored += 1
                continue
            hypotheses.append((detection.track_id, detection.box))
        distances = np.full((len(boxes), len(hypotheses)), np.nan)
        for row, box in enumerate(boxes):
            for column, (_, hypothesis) in enumerate(hypotheses):
                overlap = box_iou(box, hypothesis)
                if overlap >= MATCH_IOU:
                    distances[row, column] = 1.0 - overlap
        accumulator.update(
            [item.object_id for item in valid],
            [track_id for track_id, _ in hypotheses],
            distances,
            frameid=frame_id,
        )
    host = motmetrics.metrics.create()
    summary = host.compute(
        accumulator,
        metrics=[
            "num_frames",
            "num_objects",
            "num_unique_objects",
            "mota",
            "idf1",
            "num_switches",
            "num_false_positives",
            "num_misses",
        ],
        name="clip",
    )
    row = summary.loc["clip"]

    def number(name: str) -> float:
        value = float(row[name])
        return 0.0 if math.isnan(value) else value

    return MotScore(
        frames=int(number("num_frames")),
        truth_boxes=int(number("num_objects")),
        objects=int(number("num_unique_objects")),
        mota=number("mota"),
        idf1=number("idf1"),
        id_switches=int(number("num_switches")),
        false_positives=int(number("num_false_positives")),
        misses=int(number("num_misses")),
        ignored_hypotheses=ignored,
        detector_recall=found / judged if judged else 1.0,
    )
