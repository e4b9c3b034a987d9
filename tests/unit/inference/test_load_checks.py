"""What is checked when a version loads, table-tested with hand-written engines: model.yaml files
that would fail every frame, batch sizes no memory holds, and which directories are versions."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from gateway.domain import ModelRef, ModelState, TensorSpec, TensorType
from gateway.errors import ModelLoadError
from gateway.inference.engines.base import Tensors
from gateway.inference.loaded import LoadedVersion, check_signature, warm_up
from gateway.inference.model_config import MAX_BATCH_SIZE, ModelConfig
from gateway.inference.model_state import ALLOWED
from gateway.inference.slots import version_of
from tests.support.onnx_models import affine_model_document

LABELS = [f"class{index}" for index in range(18)]


class ShapedEngine:
    """Declares ``images`` [-1, 3, 8, 8] in and ``output0`` [-1, *output] out; runs nothing."""

    def __init__(self, output: tuple[int, ...], error: BaseException | None = None) -> None:
        self._inputs = (TensorSpec("images", TensorType.FP32, (-1, 3, 8, 8)),)
        self._outputs = (TensorSpec("output0", TensorType.FP32, (-1, *output)),)
        self.error = error

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    @property
    def provider(self) -> str:
        return "FakeExecutionProvider"

    @property
    def thread_safe(self) -> bool:
        return True

    def run(self, feeds: Tensors) -> dict[str, npt.NDArray[np.generic]]:
        if self.error is not None:
            raise self.error
        return {"output0": np.zeros((len(feeds["images"]), 22, 40), np.float32)}

    def close(self) -> None:
        pass


def detector(
    output: list[int], postprocess: dict[str, Any], preprocess: dict[str, Any] | None = None
) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "max_batch_size": 2,
            "inputs": [{"name": "images", "dims": [3, 8, 8]}],
            "outputs": [{"name": "output0", "dims": output}],
            "preprocess": {"width": 8, "height": 8, **(preprocess or {})},
            "postprocess": postprocess,
        }
    )


YOLOV8 = {"kind": "yolov8", "labels": LABELS}


@pytest.mark.parametrize(
    ("yaml_output", "file_output", "postprocess", "preprocess", "problem"),
    [
        (
            [22, 2100],
            (22, 2100),
            {"kind": "yolov8", "labels": ["a", "b"]},
            None,
            r"\[4 \+ 2 classes, anchors\]",
        ),
        ([-1, -1], (22, 2100), {"kind": "yolov8", "labels": ["a", "b"]}, None, r"gives \[22, 2100\]"),
        ([22, 2100], (22, 2100), {"kind": "yolov5", "labels": LABELS}, None, r"\[anchors, 5 \+ 18 classes\]"),
        ([22], (22,), YOLOV8, None, r"\[4 \+ 18 classes, anchors\] per item, the model gives \[22\]"),
        ([22, 2100], (22, 2100), YOLOV8, {"mean": [1, 2]}, "mean has 2 values for 3 channels"),
        ([22, 2100], (22, 2100), YOLOV8, {"std": [0, 0, 0]}, "std must not contain 0"),
        ([22, 2100], (22, 2100), {"kind": "none"}, {"std": [0, 1, 1]}, "std must not contain 0"),
        ([22, 2100], (22, 2100), YOLOV8, {"std": [1, 0.5]}, "std has 2 values for 3 channels"),
        ([22, 2100], (22, 2100), YOLOV8, {"color": "GRAY"}, r"where preprocess makes \[1, 8, 8\]"),
        ([22, 2100], (22, 2100), YOLOV8, {"layout": "NHWC"}, r"where preprocess makes \[8, 8, 3\]"),
        ([2], (2,), {"kind": "anomaly", "threshold": 0.5}, None, r"has shape \[2\] per item"),
    ],
)
def test_a_model_yaml_that_would_fail_every_frame_is_refused_at_load(
    yaml_output: list[int],
    file_output: tuple[int, ...],
    postprocess: dict[str, Any],
    preprocess: dict[str, Any] | None,
    problem: str,
) -> None:
    with pytest.raises(ModelLoadError, match=problem):
        check_signature(detector(yaml_output, postprocess, preprocess), ShapedEngine(file_output))


@pytest.mark.parametrize(
    ("yaml_output", "file_output", "postprocess", "preprocess"),
    [
        ([22, 2100], (22, 2100), YOLOV8, None),
        ([22, -1], (22, -1), YOLOV8, {"mean": [0.5], "std": [0.25, 0.5, 1]}),
        ([-1, -1], (-1, -1), {"kind": "yolov8", "labels": ["a", "b"]}, None),  # known when it runs
        ([-1, -1], (-1, -1), {"kind": "yolov5", "labels": ["a"]}, None),
        ([-1, 23], (-1, 23), {"kind": "yolov5", "labels": LABELS}, None),
        ([1], (1,), {"kind": "anomaly", "threshold": 0.5}, None),
        ([-1], (-1,), {"kind": "anomaly", "threshold": 0.5}, None),
        ([22, 2100], (22, 2100), {"kind": "none"}, {"width": 16}),  # no frames go in
    ],
)
def test_a_model_yaml_that_fits_its_file_or_cannot_be_known_before_running_passes(
    yaml_output: list[int],
    file_output: tuple[int, ...],
    postprocess: dict[str, Any],
    preprocess: dict[str, Any] | None,
) -> None:
    check_signature(detector(yaml_output, postprocess, preprocess), ShapedEngine(file_output))


def test_max_batch_size_is_bounded() -> None:
    assert (
        ModelConfig.model_validate(affine_model_document(max_batch_size=MAX_BATCH_SIZE)).max_batch_size
        == 1024
    )
    with pytest.raises(ValidationError, match="less than or equal to 1024"):
        ModelConfig.model_validate(affine_model_document(max_batch_size=1_000_000))


def test_a_warm_up_that_runs_out_of_memory_is_a_load_error() -> None:
    config = detector([22, 2100], YOLOV8)
    loaded = LoadedVersion(ModelRef("detector", 1), config, (ShapedEngine((22, 2100), MemoryError("2 TiB")),))
    with pytest.raises(ModelLoadError, match=r"warm-up batch of 2 does not fit in memory .*: 2 TiB"):
        warm_up(loaded, 1)


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("1", 1),
        ("42", 42),
        ("01", None),
        ("007", None),
        ("0", None),
        ("00", None),
        ("-1", None),
        ("+1", None),
        ("1.0", None),
        ("²", None),
        ("v2", None),
        ("", None),
        ("9" * 20, None),
    ],
)
def test_only_canonical_numbers_name_versions(name: str, version: int | None) -> None:
    assert version_of(name) == version


def test_an_unloaded_version_may_fail_when_its_model_yaml_breaks() -> None:
    assert ModelState.FAILED in ALLOWED[ModelState.UNLOADED]
