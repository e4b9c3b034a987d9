"""One item's output tensors -> detections (and a frame score), as the model's ``model.yaml`` says.

Kinds:

- ``yolov8``: ``[4 + classes, anchors]`` (YOLOv8 and YOLO11 exports): centre x, centre y, width,
  height in model-input pixels, then one sigmoid score per class.
- ``yolov5``: ``[anchors, 5 + classes]``: box, objectness, then class scores (confidence is
  objectness times class score).
- ``anomaly``: a frame score tensor; at or above ``threshold`` it becomes one ``anomaly`` detection
  with no box (the rules locate it on the model's per-cell map, which ``anomaly_map`` returns).
- ``none``: raw tensors only.

Everything is vectorised numpy. Candidates are cut by ``score_threshold`` before anything else, so
the cost on a quiet frame is one max over the class scores. NMS is class-aware (boxes of different
classes never suppress each other) and greedy: each round keeps the best remaining box and drops
the ones overlapping it, so it runs at most ``max_detections`` rounds of one vectorised IoU each.
Measured on the 2-core CI box under load, 80 classes at 640 (8400 anchors): a quiet frame decodes
in about 1.4 ms; the pathological frame where every anchor passes the threshold, in about 30 ms.
Boxes come back normalised to 0..1 of the original frame with the letterbox undone, clipped.

A model file is input, so its numbers are checked like any other: a candidate whose box or score is
not finite (NaN, infinity) is dropped, a score above 1 is clipped to 1 (alert scores are 0..1), and
an anomaly score that is not finite counts as no score. Each such problem goes to ``report`` (the
service logs it once per model version and counts it), so one odd anchor cannot poison NMS for the
others, and no NaN or infinity reaches the tracker, the rules or an alert.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.domain import AnomalyMap, Detection, ModelRef
from gateway.errors import InferenceError, ModelLoadError
from gateway.inference.model_config import PostprocessConfig
from gateway.inference.preprocess import Letterbox

__all__ = [
    "ANOMALY_LABEL",
    "MAP_OUTPUT",
    "OddOutputs",
    "Report",
    "anomaly_map",
    "check",
    "decode",
    "non_max_suppression",
]

logger = logging.getLogger(__name__)

ANOMALY_LABEL = "anomaly"
MAP_OUTPUT = "map"
"""An anomaly model's map output when model.yaml does not name one (every enrolled version has it)."""
_Floats = npt.NDArray[np.float32]
_Wide = npt.NDArray[np.float64]

Report = Callable[[str, int], None]
"""``report(problem, count)``: ``count`` values of one item's output had ``problem`` (one of
``NON_FINITE``, ``SCORE_ABOVE_ONE``, ``NON_FINITE_ANOMALY_SCORE``, ``NON_FINITE_ANOMALY_MAP``) and
were dropped or clipped."""

NON_FINITE = "non_finite_detection"
SCORE_ABOVE_ONE = "score_above_one"
NON_FINITE_ANOMALY_SCORE = "non_finite_anomaly_score"
NON_FINITE_ANOMALY_MAP = "non_finite_anomaly_map"

_PROBLEMS = {
    NON_FINITE: "detections with a NaN or infinite box or score were dropped",
    SCORE_ABOVE_ONE: "detection scores above 1 were clipped to 1 (are the class scores sigmoids?)",
    NON_FINITE_ANOMALY_SCORE: "a NaN or infinite anomaly score was taken as no score",
    NON_FINITE_ANOMALY_MAP: "NaN or infinite anomaly map cells were taken as 0 (not anomalous)",
}

_FAR = 1e4
"""Box corners are clipped to +-this many model-input pixels before NMS: outside any model input (a
few thousand pixels at most), so no box changes on the frame, while a huge one (1e30) can neither
overflow nor swamp the class shift of NMS (float32: 80 classes x 2e4 keeps 1/8 pixel)."""


def _ignore(problem: str, count: int) -> None:
    del problem, count


class OddOutputs:
    """Logs each problem of each model version once (a model that outputs NaN does so on every
    frame: one line, not a flood) and hands every occurrence to ``count`` (a metric). Thread-safe."""

    def __init__(self, count: Callable[[ModelRef, str, int], None] | None = None) -> None:
        self._count = count
        self._logged: set[tuple[ModelRef, str]] = set()
        self._lock = threading.Lock()

    def reporter(self, ref: ModelRef) -> Report:
        """The ``report`` for decoding an output of ``ref``."""

        def report(problem: str, count: int) -> None:
            self.note(ref, problem, count)

        return report

    def note(self, ref: ModelRef, problem: str, count: int) -> None:
        if self._count is not None:
            self._count(ref, problem, count)
        with self._lock:
            first = (ref, problem) not in self._logged
            self._logged.add((ref, problem))
        if first:
            logger.warning(
                "model %s: %s (%d in this frame; logged once, counted in "
                "edge_gateway_inference_odd_outputs_total)",
                ref,
                _PROBLEMS.get(problem, problem),
                count,
                extra={"model": str(ref)},
            )


def decode(
    outputs: Mapping[str, npt.NDArray[Any]],
    letterbox: Letterbox,
    spec: PostprocessConfig,
    report: Report = _ignore,
) -> tuple[tuple[Detection, ...], float | None]:
    """Decode the outputs of ONE item (batch dimension removed): (detections, anomaly score).
    Values that are not numbers an alert can carry are dropped or clipped and go to ``report``."""
    if spec.kind == "none":
        return (), None
    tensor = _select_output(outputs, spec)
    if spec.kind == "anomaly":
        return _decode_anomaly(tensor, spec, report)
    # Odd values (inf * 0, a float16 overflow) are found and dropped below, not warned about here.
    with np.errstate(all="ignore"):
        if spec.kind == "yolov8":
            centres, scores, classes = _yolov8_candidates(tensor, spec, report)
        else:
            centres, scores, classes = _yolov5_candidates(tensor, spec, report)
    boxes, sane_scores, classes = _sane(centres, scores, classes, report)
    return _finish(boxes, sane_scores, classes, letterbox, spec), None


def check(spec: PostprocessConfig, shapes: Mapping[str, tuple[int, ...]]) -> None:
    """What ``decode`` would refuse on every item, found at load: ``shapes`` are one item's output
    shapes in the order the model gives them, -1 where a dimension is dynamic (what cannot be known
    until the model runs is left to ``decode``). ModelLoadError naming the problem."""
    if spec.kind == "none" or not shapes:
        return
    name = spec.output if spec.output is not None else next(iter(shapes))
    shape = shapes.get(name)
    if shape is None:
        raise ModelLoadError(f"postprocess output {name!r} is not among the model's outputs {sorted(shapes)}")
    if spec.kind == "anomaly":
        if -1 not in shape and int(np.prod(shape)) != 1:
            raise ModelLoadError(
                f"anomaly score output {name!r} has shape {list(shape)} per item, one value is needed; "
                "point postprocess.output at the frame score"
            )
        map_name = spec.map_output if spec.map_output is not None else MAP_OUTPUT
        map_shape = shapes.get(map_name)
        if map_shape is not None and len(map_shape) != 2:
            raise ModelLoadError(
                f"anomaly map output {map_name!r} must be [rows, columns] per item, got {list(map_shape)}"
            )
        return
    classes = len(spec.labels)
    # yolov8: [4 + classes, anchors]; yolov5: [anchors, 5 + classes] (see the module docstring).
    axis, width, layout = (
        (0, 4 + classes, f"[4 + {classes} classes, anchors]")
        if spec.kind == "yolov8"
        else (1, 5 + classes, f"[anchors, 5 + {classes} classes]")
    )
    if len(shape) != 2 or shape[axis] not in (-1, width):
        raise ModelLoadError(
            f"postprocess kind {spec.kind} with {classes} labels needs output {name!r} to be {layout} "
            f"per item, the model gives {list(shape)} (-1: dynamic)"
        )


def anomaly_map(
    outputs: Mapping[str, npt.NDArray[Any]], spec: PostprocessConfig, report: Report = _ignore
) -> AnomalyMap | None:
    """The per-cell map of ONE item of an anomaly model, judged against the model's threshold; None
    for other kinds and for anomaly models without a map. Cells that are not finite are not
    measurements: they become 0 (never anomalous) and go to ``report``."""
    if spec.kind != "anomaly" or spec.threshold is None:
        return None
    name = spec.map_output if spec.map_output is not None else MAP_OUTPUT
    tensor = outputs.get(name)
    if tensor is None:
        if spec.map_output is not None:
            raise InferenceError(f"map output {name!r} is missing; got {sorted(outputs)}")
        return None
    if tensor.ndim != 2:
        raise InferenceError(f"anomaly map output {name!r} must be [rows, columns], got {list(tensor.shape)}")
    with np.errstate(over="ignore"):  # a float64 cell beyond float32 becomes inf, caught below
        cells = np.array(tensor, dtype=np.float32)
    finite = np.isfinite(cells)
    if not finite.all():
        report(NON_FINITE_ANOMALY_MAP, int(cells.size - np.count_nonzero(finite)))
        cells[~finite] = 0.0
    return AnomalyMap(cells, float(spec.threshold))


def non_max_suppression(
    boxes: _Floats, scores: _Floats, classes: npt.NDArray[np.intp], iou_threshold: float, limit: int
) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by class-aware greedy NMS, best first, at most ``limit``.

    ``boxes`` are ``[K, 4]`` x1, y1, x2, y2. Shifting each class into its own region of the plane
    (by more than any coordinate) makes one pass class-aware: boxes of different classes never
    overlap, so they cannot suppress each other.
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=np.intp)
    span = float(np.abs(boxes).max()) * 2 + 1
    order = np.argsort(-scores, kind="stable")
    shifted = boxes[order] + (classes[order].astype(np.float32) * span)[:, np.newaxis]
    # Sorted once into contiguous columns; each round then works on the slice after the kept box
    # and marks what it suppresses, which is about twice as fast as gathering survivors by index.
    x1, y1, x2, y2 = (np.ascontiguousarray(shifted[:, column]) for column in range(4))
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    alive = np.ones(len(order), dtype=bool)
    keep: list[int] = []
    position = 0
    while len(keep) < limit:
        keep.append(int(order[position]))
        after = slice(position + 1, len(order))
        width = np.minimum(x2[position], x2[after]) - np.maximum(x1[position], x1[after])
        height = np.minimum(y2[position], y2[after]) - np.maximum(y1[position], y1[after])
        overlap = np.maximum(width, 0) * np.maximum(height, 0)
        # IoU <= threshold, written without a division (so empty boxes give no 0/0)
        alive[after] &= overlap <= iou_threshold * (areas[position] + areas[after] - overlap)
        survivors = alive[after]
        if not survivors.any():
            break
        position += 1 + int(survivors.argmax())
    return np.asarray(keep, dtype=np.intp)


def _select_output(outputs: Mapping[str, npt.NDArray[Any]], spec: PostprocessConfig) -> npt.NDArray[Any]:
    if not outputs:
        raise InferenceError("the model returned no outputs to decode")
    name = spec.output if spec.output is not None else next(iter(outputs))
    try:
        return outputs[name]
    except KeyError as exc:
        raise InferenceError(f"output {name!r} to decode is missing; got {sorted(outputs)}") from exc


def _decode_anomaly(
    tensor: npt.NDArray[Any], spec: PostprocessConfig, report: Report
) -> tuple[tuple[Detection, ...], float | None]:
    if tensor.size != 1:
        raise InferenceError(
            f"anomaly score output has shape {tensor.shape}; point postprocess.output at the frame score"
        )
    score = float(tensor.reshape(-1)[0])
    if not np.isfinite(score):  # not a measurement: neither anomalous nor a frame score to report
        report(NON_FINITE_ANOMALY_SCORE, 1)
        return (), None
    threshold = spec.threshold if spec.threshold is not None else float("inf")
    if not score >= threshold:  # NaN is never anomalous
        return (), score
    # Alert scores are 0..1 by contract; the raw score travels separately as the frame score.
    return (Detection(ANOMALY_LABEL, min(max(score, 0.0), 1.0), None),), score


def _yolov8_candidates(
    tensor: npt.NDArray[Any], spec: PostprocessConfig, report: Report
) -> tuple[_Wide, _Wide, npt.NDArray[np.intp]]:
    classes = len(spec.labels)
    if tensor.ndim != 2 or tensor.shape[0] != 4 + classes:
        raise InferenceError(
            f"yolov8 output must be [4 + {classes} classes, anchors], got {list(tensor.shape)}"
        )
    class_scores = tensor[4:]
    best = class_scores.max(axis=0)
    _report_nan(best, report)  # a NaN class score makes its anchor's best NaN: never a candidate
    candidates = np.flatnonzero(best >= spec.score_threshold)
    labels = class_scores[:, candidates].argmax(axis=0)
    centres = tensor[:4, candidates].T.astype(np.float64)
    return centres, best[candidates].astype(np.float64), labels


def _yolov5_candidates(
    tensor: npt.NDArray[Any], spec: PostprocessConfig, report: Report
) -> tuple[_Wide, _Wide, npt.NDArray[np.intp]]:
    classes = len(spec.labels)
    if tensor.ndim != 2 or tensor.shape[1] != 5 + classes:
        raise InferenceError(
            f"yolov5 output must be [anchors, 5 + {classes} classes], got {list(tensor.shape)}"
        )
    # Objectness bounds the confidence from above, so it is a cheap first cut (NaN never passes).
    _report_nan(tensor[:, 4], report)
    rows = tensor[tensor[:, 4] >= spec.score_threshold]
    confidences = rows[:, 5:] * rows[:, 4:5]
    labels = confidences.argmax(axis=1)
    scores = confidences[np.arange(len(rows)), labels]
    _report_nan(scores, report)
    keep = scores >= spec.score_threshold
    centres = rows[keep, :4].astype(np.float64)
    return centres, scores[keep].astype(np.float64), labels[keep]


def _report_nan(scores: npt.NDArray[Any], report: Report) -> None:
    """Report NaN scores, which the threshold cut drops silently (one pass, about 2 us at 8400)."""
    if scores.dtype.kind == "f":
        nan = int(np.count_nonzero(np.isnan(scores)))
        if nan:
            report(NON_FINITE, nan)


def _sane(
    centres: _Wide, scores: _Wide, classes: npt.NDArray[np.intp], report: Report
) -> tuple[_Floats, _Floats, npt.NDArray[np.intp]]:
    """Candidates an alert can carry: finite boxes and scores (the others dropped), scores at most
    1, corners within ``_FAR`` pixels; reported per problem."""
    if len(scores) == 0:  # a quiet frame: nothing to check
        return np.empty((0, 4), np.float32), np.empty(0, np.float32), classes
    finite = np.isfinite(centres).all(axis=1) & np.isfinite(scores)
    if not finite.all():
        report(NON_FINITE, int(len(finite) - np.count_nonzero(finite)))
        centres, scores, classes = centres[finite], scores[finite], classes[finite]
    above = np.count_nonzero(scores > 1)
    if above:
        report(SCORE_ABOVE_ONE, int(above))
        scores = np.minimum(scores, 1.0)
    corners = np.clip(_corners(centres), -_FAR, _FAR)
    return corners.astype(np.float32), scores.astype(np.float32), classes


def _corners(centres: _Wide) -> _Wide:
    """``[K, 4]`` centre x, centre y, width, height -> x1, y1, x2, y2 (float64: finite float32
    centres cannot overflow)."""
    half = centres[:, 2:4] / 2
    return np.concatenate([centres[:, 0:2] - half, centres[:, 0:2] + half], axis=1)


def _finish(
    boxes: _Floats,
    scores: _Floats,
    classes: npt.NDArray[np.intp],
    letterbox: Letterbox,
    spec: PostprocessConfig,
) -> tuple[Detection, ...]:
    if spec.keep_labels:
        wanted = np.asarray([spec.labels.index(label) for label in spec.keep_labels], dtype=np.intp)
        kept = np.isin(classes, wanted)
        boxes, scores, classes = boxes[kept], scores[kept], classes[kept]
    chosen = non_max_suppression(boxes, scores, classes, spec.iou_threshold, spec.max_detections)
    normalised = letterbox.to_source(boxes[chosen])
    detections = []
    for index, box in zip(chosen.tolist(), normalised.tolist(), strict=True):
        x1, y1, x2, y2 = box
        if x2 <= x1 or y2 <= y1:  # entirely inside the padding
            continue
        detections.append(Detection(spec.labels[classes[index]], float(scores[index]), (x1, y1, x2, y2)))
    return tuple(detections)
