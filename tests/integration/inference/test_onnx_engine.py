"""The ONNX Runtime engine on real model files: provider choice, specs, error mapping."""

from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from gateway.domain import TensorSpec, TensorType
from gateway.errors import InferenceError, InvalidInputError, ModelLoadError
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine, preferred_provider
from tests.support.onnx_models import write_affine_model, write_broken_model

ALL = EngineOptions(providers=("tensorrt", "cuda", "cpu"))


def test_first_available_configured_provider_wins(models_root: Path) -> None:
    engine = OnnxEngine(write_affine_model(models_root), ALL)
    offered = ort.get_available_providers()
    expected = next(
        name
        for name in ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
        if name in offered
    )
    assert engine.provider == expected == preferred_provider(ALL)
    engine.close()


def test_specs_come_from_the_model_file(models_root: Path) -> None:
    engine = OnnxEngine(write_affine_model(models_root, dims=(2, 3), datatype="FP16"), EngineOptions())
    assert engine.inputs == (TensorSpec("INPUT0", TensorType.FP16, (-1, 2, 3)),)
    assert engine.outputs == (TensorSpec("OUTPUT0", TensorType.FP16, (-1, 2, 3)),)
    result = engine.run({"INPUT0": np.ones((2, 2, 3), np.float16)})
    assert result["OUTPUT0"].dtype == np.float16
    assert result["OUTPUT0"].tolist() == [[[3.0] * 3] * 2] * 2


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="needs a CPU-only build")
def test_no_available_provider_is_a_load_error_naming_what_exists(models_root: Path) -> None:
    with pytest.raises(ModelLoadError, match="none of the configured providers \\['cuda'\\] is available"):
        OnnxEngine(write_affine_model(models_root), EngineOptions(providers=("cuda",)))


def test_a_garbage_file_is_a_load_error(models_root: Path) -> None:
    with pytest.raises(ModelLoadError, match="Protobuf parsing failed"):
        OnnxEngine(write_broken_model(models_root), EngineOptions())


def test_a_missing_file_is_a_load_error(models_root: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model\.onnx"):
        OnnxEngine(models_root / "nothing" / "1" / "model.onnx", EngineOptions())


def test_wrong_input_is_an_invalid_input_error(models_root: Path) -> None:
    engine = OnnxEngine(write_affine_model(models_root), EngineOptions())
    with pytest.raises(InvalidInputError):
        engine.run({"INPUT0": np.ones((1, 4), np.float64)})
    with pytest.raises(InvalidInputError):
        engine.run({"INPUT0": np.ones((1, 5), np.float32)})


def _model_file(path: Path, graph: onnx.GraphProto, *, ir_version: int = 8, opset: int = 17) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def _negation(shape: list[int | None]) -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Not", ["x"], ["y"])],
        "negation",
        [helper.make_tensor_value_info("x", TensorProto.BOOL, shape)],
        [helper.make_tensor_value_info("y", TensorProto.BOOL, shape)],
    )


@pytest.mark.parametrize(
    ("ir_version", "said"),
    [(99, r"Unsupported model IR version: 99, max supported IR version: \d+"), (8, None)],
)
def test_a_load_error_says_what_onnx_runtime_found_wrong_without_its_source_place(
    tmp_path: Path, ir_version: int, said: str | None
) -> None:
    # ONNX Runtime's own message named the file again, then its C++ source file and line and a
    # function signature of 280 characters, before the words that say what is wrong.
    path = _model_file(tmp_path / "1" / "model.onnx", _negation([None, 4]), ir_version=ir_version)
    if said is None:
        path.write_bytes(b"")
        said = r"No graph was found in the protobuf\."
    with pytest.raises(ModelLoadError) as raised:
        OnnxEngine(path, EngineOptions())
    assert re.fullmatch(f"{re.escape(str(path))}: ONNX Runtime cannot load it: {said}", str(raised.value))


def test_a_load_error_from_a_check_inside_onnx_runtime_says_only_what_is_wrong(tmp_path: Path) -> None:
    # Given a model whose initializer holds fewer bytes than its shape needs (a file cut or damaged)
    offset = helper.make_tensor("offset", TensorProto.FLOAT, [4], np.ones(4, np.float32).tobytes(), raw=True)
    offset.raw_data = offset.raw_data[:12]
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "offset"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
        [offset],
    )
    path = _model_file(tmp_path / "1" / "model.onnx", graph)
    # Then the error says so without ONNX Runtime's status written for each error it wraps, nor the
    # check's source file, line and name ("[ONNXRuntimeError] : 1 : FAIL : Exception during
    # initialization: [ONNXRuntimeError] : 1 : FAIL : tensorprotoutils.cc:1730
    # ValidateEmbeddedTensorProtoDataSizeAndShape Initializer 'offset': ...")
    with pytest.raises(ModelLoadError) as raised:
        OnnxEngine(path, EngineOptions())
    said = str(raised.value).removeprefix(f"{path}: ONNX Runtime cannot load it: ")
    assert re.fullmatch(
        r"(Exception during initialization: )?Initializer 'offset': raw_data size \(12 bytes\) does not "
        r"match expected size from shape and data type \(16 bytes\)",
        said,
    ), said


def test_a_load_error_naming_what_is_not_utf8_says_what_is_wrong_and_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given a model whose node, named in bytes that are not UTF-8 (as many as the name they replace,
    # so the file still parses), runs an operator there is not
    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["x"], ["y"], name="node-NAME")],
        "unknown",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
    )
    path = _model_file(tmp_path / "1" / "model.onnx", graph)
    path.write_bytes(path.read_bytes().replace(b"node-NAME", b"node-\xe4AME"))
    # When it is loaded, then the error is ONNX Runtime's words (pybind11 could not decode them, and
    # said "'utf-8' codec can't decode byte 0xe4"), the name as far as it reads
    with pytest.raises(ModelLoadError) as raised:
        OnnxEngine(path, EngineOptions())
    said = str(raised.value)
    assert "No Op registered for NoSuchOp" in said
    assert "node-\ufffdAME" in said
    # and ONNX Runtime printed nothing to stdout (where serve writes its alerts without a broker), as
    # its fallback to other providers did: "EP Error ... Falling back to ['CPUExecutionProvider']"
    assert capfd.readouterr().out == ""


def test_a_run_error_says_what_went_wrong_without_onnx_runtimes_source_place(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        "reshape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor("shape", TensorProto.INT64, [2], [2, 2])],
    )
    engine = OnnxEngine(_model_file(tmp_path / "1" / "model.onnx", graph), EngineOptions())
    with pytest.raises(InferenceError) as raised:
        engine.run({"x": np.ones((2, 4), np.float32)})
    engine.close()
    said = str(raised.value)
    assert said.startswith("Non-zero status code returned while running Reshape node.")
    assert "The input tensor cannot be reshaped to the requested shape" in said
    assert "onnxruntime_src" not in said
    assert "ReshapeHelper" not in said
    # raised, and not also printed by ONNX Runtime in terminal colours (into the journal)
    assert "Reshape" not in capfd.readouterr().err


def native_threads() -> set[int]:
    return {int(task) for task in os.listdir("/proc/self/task")}


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_intra_op_threads_run_at_the_workers_priority_and_the_caller_keeps_its_own(
    models_root: Path,
) -> None:
    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before = native_threads()
    engine = OnnxEngine(write_affine_model(models_root), EngineOptions(intra_op_threads=3, worker_nice=7))
    try:
        # ONNX Runtime's pool: the caller's thread and two of its own (counted, not listed: a thread
        # another test left may start one of its own meanwhile).
        lowered = [
            thread
            for thread in native_threads() - before
            if os.getpriority(os.PRIO_PROCESS, thread) == min(19, caller + 7)
            and os.sched_getscheduler(thread) == os.SCHED_BATCH
        ]
        assert len(lowered) >= 2
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller
        assert engine.run({"INPUT0": np.ones((2, 4), np.float32)})["OUTPUT0"].shape == (2, 4)
    finally:
        engine.close()


def test_a_load_error_with_intra_op_threads_is_still_a_load_error(models_root: Path) -> None:
    with pytest.raises(ModelLoadError, match="Protobuf parsing failed"):
        OnnxEngine(write_broken_model(models_root), EngineOptions(intra_op_threads=2))
