"""Native TensorRT engines against ONNX Runtime on CPU, on the shipped models (needs a GPU)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from gateway.domain import Detection, Image
from gateway.errors import InvalidInputError, ModelLoadError
from gateway.inference import postprocess, preprocess
from gateway.inference.engine_cache import Precision
from gateway.inference.engines.base import Engine, EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.engines.tensorrt import PROVIDER, TensorrtEngine
from gateway.inference.loaded import check_signature
from gateway.inference.model_config import ModelConfig
from tests.gpu.conftest import SHIPPED, PlanFactory, shipped

pytestmark = pytest.mark.gpu

CPU = EngineOptions(providers=("cpu",))


def random_batch(config: ModelConfig, rows: int, seed: int = 0) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).random((rows, *_dims(config)), dtype=np.float32)


def _dims(config: ModelConfig) -> tuple[int, ...]:
    assert config.preprocess is not None
    return (3, config.preprocess.height, config.preprocess.width)


def assert_close(actual: npt.NDArray[np.generic], expected: npt.NDArray[np.generic], relative: float) -> None:
    """Within ``relative`` of the output's range, everywhere."""
    scale = float(np.max(np.abs(np.asarray(expected, np.float64)))) or 1.0
    np.testing.assert_allclose(
        np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=0, atol=relative * scale
    )


def detections(engine: Engine, config: ModelConfig, frames: list[Image]) -> list[tuple[Detection, ...]]:
    assert config.preprocess is not None
    prepared = [preprocess.prepare(frame, config.preprocess) for frame in frames]
    batch = np.stack([item for item, _ in prepared])
    outputs = engine.run({config.inputs[0].name: batch})
    return [
        postprocess.decode(
            {name: value[index] for name, value in outputs.items()}, letterbox, config.postprocess
        )[0]
        for index, (_, letterbox) in enumerate(prepared)
    ]


def iou(first: Detection, second: Detection) -> float:
    assert first.box is not None
    assert second.box is not None
    x1, y1 = max(first.box[0], second.box[0]), max(first.box[1], second.box[1])
    x2, y2 = min(first.box[2], second.box[2]), min(first.box[3], second.box[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = (first.box[2] - first.box[0]) * (first.box[3] - first.box[1])
    area += (second.box[2] - second.box[0]) * (second.box[3] - second.box[1])
    return inter / (area - inter) if area > inter else 0.0


@pytest.mark.parametrize("name", SHIPPED)
def test_fp32_outputs_match_onnx_runtime_cpu(name: str, plans: PlanFactory) -> None:
    onnx_path, config = shipped(name)
    native, reference = TensorrtEngine(plans(name, "fp32")), OnnxEngine(onnx_path, CPU)
    try:
        assert native.provider == PROVIDER
        check_signature(config, native)  # same names, types and shapes model.yaml declares
        assert [spec.name for spec in native.outputs] == [spec.name for spec in reference.outputs]
        for rows in (1, 3, config.max_batch_size):
            feeds = {config.inputs[0].name: random_batch(config, rows, seed=rows)}
            got, want = native.run(feeds), reference.run(feeds)
            assert got.keys() == want.keys()
            for output in want:
                assert got[output].dtype == want[output].dtype
                assert got[output].shape == want[output].shape
                assert_close(got[output], want[output], 1e-3)
    finally:
        native.close()
        reference.close()


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_detections_after_postprocess_match_onnx_runtime_cpu(
    precision: Precision, plans: PlanFactory, face_frames: list[Image]
) -> None:
    onnx_path, config = shipped("face-detector")
    native, reference = TensorrtEngine(plans("face-detector", precision)), OnnxEngine(onnx_path, CPU)
    try:
        got, want = detections(native, config, face_frames), detections(reference, config, face_frames)
    finally:
        native.close()
        reference.close()
    assert any(want), "the demo clip's face interval should give ONNX Runtime detections"
    score_tolerance = 0.01 if precision == "fp32" else 0.05
    for mine, theirs in zip(got, want, strict=True):
        confident = [
            item for item in theirs if item.score >= config.postprocess.score_threshold + score_tolerance
        ]
        for expected in confident:
            match = max(
                (item for item in mine if item.label == expected.label), key=lambda item: iou(item, expected)
            )
            assert iou(match, expected) > (0.98 if precision == "fp32" else 0.9)
            assert abs(match.score - expected.score) <= score_tolerance


def test_two_workers_run_concurrently_on_their_own_streams(plans: PlanFactory) -> None:
    _, config = shipped("yolov8n-bench")
    engines = [TensorrtEngine(plans("yolov8n-bench", "fp32")) for _ in range(2)]
    feeds = [{config.inputs[0].name: random_batch(config, 2, seed=seed)} for seed in (1, 2)]
    expected = [engine.run(feed) for engine, feed in zip(engines, feeds, strict=True)]
    failures: list[str] = []

    def work(index: int) -> None:
        for _ in range(20):
            result = engines[index].run(feeds[index])
            if not all(np.array_equal(result[key], expected[index][key]) for key in result):
                failures.append(f"worker {index} got another result")

    threads = [threading.Thread(target=work, args=(index,), name=f"trt-{index}") for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.close()
    assert failures == []


def test_inputs_outside_the_engine_are_invalid_input_errors(plans: PlanFactory) -> None:
    _, config = shipped("yolov8n-bench")
    engine = TensorrtEngine(plans("yolov8n-bench", "fp32"))
    name = config.inputs[0].name
    try:
        with pytest.raises(InvalidInputError, match="is FP32"):
            engine.run({name: random_batch(config, 1).astype(np.float16)})
        with pytest.raises(InvalidInputError, match="this engine takes"):
            engine.run({name: random_batch(config, config.max_batch_size + 1)})
        with pytest.raises(InvalidInputError, match="this engine takes"):
            engine.run({name: np.zeros((1, 3, 320, 320), np.float32)})
        with pytest.raises(InvalidInputError, match="missing"):
            engine.run({})
        # The engine still works after refusing bad input.
        assert engine.run({name: random_batch(config, 1)})["output0"].shape == (1, 84, 8400)
    finally:
        engine.close()


def test_an_engine_from_another_tensorrt_or_gpu_is_a_load_error(tmp_path: Path, gpu: object) -> None:
    garbage = tmp_path / "other.engine"
    garbage.write_bytes(b"\0" * 4096)
    with pytest.raises(ModelLoadError, match="rebuild it with edge-gateway build-engine"):
        TensorrtEngine(garbage)
