"""``models/<name>/model.yaml``: what a model takes, how frames become its input, how its output
becomes detections, and how traffic is routed between its versions.

Example::

    platform: onnxruntime_onnx
    max_batch_size: 8
    inputs:  [{name: images, datatype: FP32, dims: [3, 320, 320]}]   # without the batch dimension
    outputs: [{name: output0, datatype: FP32, dims: [22, 2100]}]
    preprocess: {width: 320, height: 320, layout: NCHW, color: RGB, scale: 0.00392156862745098,
                 letterbox: true}
    postprocess: {kind: yolov8, labels: [...], keep_labels: [FACE_FEMALE, FACE_MALE],
                  score_threshold: 0.25, iou_threshold: 0.45}
    routing: {canary: {version: 3, weight: 0.1}}
"""

from __future__ import annotations

import contextlib
import stat
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gateway.config import ConfigPathError, parse_config, read_config_text
from gateway.config.fields import Integer, Number
from gateway.domain import TensorSpec, TensorType
from gateway.errors import ConfigError, ConfigProblem
from gateway.printable import printable

Fraction = Annotated[Number, Field(ge=0, le=1)]

MAX_BATCH_SIZE = 1024
"""The largest ``max_batch_size`` a model may declare. Warm-up allocates that many rows and a request
may carry that many, so an unbounded value (``1000000``) asks for terabytes; 1024 is far above what
batching gains on any box we ship to (GPU throughput flattens out by 32 to 64 rows)."""

MAX_DETECTIONS = 1000
"""The most detections a model may keep per frame. Every one is a track candidate the camera's
tracker matches and its rules judge on every frame: at 3,000 a frame that took 0.3-1.6 s, so a
camera fell minutes behind; detectors keep 100 to 300 (YOLO's default is 300)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _served(datatype: TensorType) -> TensorType:
    # Loaded, such a model was ready, and every request to it a 400.
    if datatype is TensorType.BYTES:
        raise ValueError("BYTES (string) tensors are not served: the gateway takes BOOL and numeric tensors")
    return datatype


class TensorConfig(_Section):
    name: str = Field(min_length=1)
    datatype: Annotated[TensorType, AfterValidator(_served)] = TensorType.FP32
    dims: tuple[Integer, ...] = Field(description="Shape without the batch dimension; -1 where dynamic.")

    def spec(self) -> TensorSpec:
        return TensorSpec(self.name, self.datatype, (-1, *self.dims))


class PreprocessConfig(_Section):
    """How a BGR uint8 frame becomes one item of the model's first input."""

    width: Integer = Field(gt=0)
    height: Integer = Field(gt=0)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    color: Literal["RGB", "BGR", "GRAY"] = "RGB"
    datatype: Literal["FP32", "FP16", "UINT8"] = "FP32"
    scale: Number = Field(1 / 255, description="Multiplied first.")
    mean: tuple[Number, ...] = Field(
        (0.0,), description="Subtracted after scaling, per channel or one value."
    )
    std: tuple[Number, ...] = Field((1.0,), description="Divided last, per channel or one value.")
    letterbox: bool = Field(True, description="Keep the aspect ratio and pad; False stretches.")
    pad_value: Integer = Field(114, ge=0, le=255)


class PostprocessConfig(_Section):
    """How the model's outputs for one item become detections or a frame score.

    kinds: ``none`` (raw tensors only, no /v1/detect), ``yolov8`` ([N, 4+classes, anchors], also
    YOLO11), ``yolov5`` ([N, anchors, 5+classes]), ``anomaly`` (a frame score output, and optionally
    a coarse map; ``threshold`` turns the score into an ``anomaly`` detection).
    """

    kind: Literal["none", "yolov8", "yolov5", "anomaly"] = "none"
    output: str | None = Field(None, description="Output tensor to decode; default: the first.")
    labels: tuple[str, ...] = ()
    keep_labels: tuple[str, ...] = Field((), description="Only these labels are reported; empty: all.")
    score_threshold: Fraction = 0.25
    iou_threshold: Fraction = 0.45
    max_detections: Integer = Field(
        100,
        ge=1,
        le=MAX_DETECTIONS,
        description="Detections kept per frame, best first (non-maximum suppression's rounds).",
    )
    threshold: Number | None = Field(
        None, description="Anomaly score at or above which a frame is anomalous."
    )
    map_output: str | None = Field(
        None,
        description="Anomaly: output with the per-cell map [rows, columns] (same scale as the score); "
        "default: an output named 'map', if the model has one.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PostprocessConfig:
        _check_labels_unique(self.labels)
        if self.kind in ("yolov8", "yolov5") and not self.labels:
            raise ValueError(f"postprocess kind {self.kind} needs labels")
        unknown = sorted(set(self.keep_labels) - set(self.labels))
        if unknown:
            raise ValueError(f"keep_labels {unknown} are not among labels")
        if self.kind == "anomaly" and self.threshold is None:
            raise ValueError("postprocess kind anomaly needs a threshold")
        return self


def _check_labels_unique(labels: tuple[str, ...]) -> None:
    """ConfigPathError at the second of two classes with the same label: alerts and rules cannot tell
    them apart, and ``keep_labels`` would keep the first class of the label only, dropping the other's
    detections with nothing said."""
    first: dict[str, int] = {}
    for index, label in enumerate(labels):
        earlier = first.setdefault(label, index)
        if earlier != index:
            raise ConfigPathError(
                ("labels", index),
                f"label '{printable(label)}' is also labels[{earlier}]: each class needs a label of its "
                "own (merge the classes in the model, or name them apart)",
            )


class CanaryConfig(_Section):
    version: Integer = Field(ge=1)
    weight: Fraction = Field(description="Share of unpinned requests sent to this version.")


class RoutingConfig(_Section):
    default_version: Integer | None = Field(None, ge=1, description="Default: the highest version.")
    canary: CanaryConfig | None = None


class ModelConfig(_Section):
    platform: Literal["onnxruntime_onnx", "tensorrt_plan"] = "onnxruntime_onnx"
    max_batch_size: Integer = Field(
        8, ge=1, le=MAX_BATCH_SIZE, description="Rows one batch (or one request) may carry."
    )
    inputs: tuple[TensorConfig, ...] = Field(min_length=1)
    outputs: tuple[TensorConfig, ...] = Field(min_length=1)
    preprocess: PreprocessConfig | None = Field(None, description="Needed for camera frames and /v1/detect.")
    postprocess: PostprocessConfig = PostprocessConfig()
    routing: RoutingConfig = RoutingConfig()
    warmup_batches: Integer | None = Field(None, ge=0, description="Default: models.warmup_batches.")

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        names = [tensor.name for tensor in self.outputs]
        if self.postprocess.output is not None and self.postprocess.output not in names:
            raise ValueError(f"postprocess.output {self.postprocess.output!r} is not among outputs {names}")
        if self.postprocess.map_output is not None and self.postprocess.map_output not in names:
            raise ValueError(
                f"postprocess.map_output {self.postprocess.map_output!r} is not among outputs {names}"
            )
        if self.postprocess.kind != "none" and self.preprocess is None:
            raise ValueError(f"postprocess kind {self.postprocess.kind} needs a preprocess section")
        return self


def load_model_config(path: Path) -> ModelConfig:
    """Parse ``model.yaml``; raises ConfigError naming file:line and key for every problem."""
    with contextlib.suppress(OSError):  # a missing file is reported by the read below
        mode = path.stat().st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            # Opening it would wait for a writer: the reload pass, and every one after it, would hang.
            problem = "cannot read: a FIFO or socket, not a file"
            raise ConfigError([ConfigProblem(str(path), None, "", problem)])
    config: ModelConfig = parse_config(read_config_text(path), str(path), ModelConfig)
    return config
