"""Tiny real model repositories for tests, built with onnx.helper (torch is never a dependency).

``write_affine_model`` writes ``models/<name>/model.yaml`` and ``models/<name>/<version>/model.onnx``
computing ``OUTPUT0 = INPUT0 * scale + offset`` with a dynamic batch dimension, so tests can predict
every output exactly and tell versions apart by their ``scale``/``offset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper

OPSET = 13
# Old enough for every onnxruntime the project supports (>= 1.18), so files load everywhere.
IR_VERSION = 8

_ELEMENT_TYPES: Mapping[str, int] = {
    "FP32": TensorProto.FLOAT,
    "FP16": TensorProto.FLOAT16,
    "FP64": TensorProto.DOUBLE,
}


def affine_model_bytes(
    *,
    dims: Sequence[int | str] = (4,),
    scale: float = 2.0,
    offset: float = 1.0,
    datatype: str = "FP32",
    input_name: str = "INPUT0",
    output_name: str = "OUTPUT0",
) -> bytes:
    """Serialized ONNX model ``output = input * scale + offset``; the batch dimension is dynamic, and so
    is any dimension of ``dims`` given by name."""
    element = _ELEMENT_TYPES[datatype]
    numpy_type = onnx.helper.tensor_dtype_to_np_dtype(element)
    shape: list[int | str] = ["batch", *dims]
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Mul", [input_name, "scale"], ["scaled"]),
            helper.make_node("Add", ["scaled", "offset"], [output_name]),
        ],
        name="affine",
        inputs=[helper.make_tensor_value_info(input_name, element, shape)],
        outputs=[helper.make_tensor_value_info(output_name, element, shape)],
        initializer=[
            onnx.numpy_helper.from_array(np.array(scale, dtype=numpy_type), "scale"),
            onnx.numpy_helper.from_array(np.array(offset, dtype=numpy_type), "offset"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def write_model_yaml(root: Path, name: str, document: Mapping[str, Any]) -> Path:
    """Write ``root/<name>/model.yaml`` from a plain mapping; returns its path."""
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.yaml"
    path.write_text(yaml.safe_dump(_plain(document), sort_keys=False))
    return path


def affine_model_document(
    *,
    dims: Sequence[int] = (4,),
    max_batch_size: int = 8,
    datatype: str = "FP32",
    input_name: str = "INPUT0",
    output_name: str = "OUTPUT0",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The model.yaml mapping that matches ``affine_model_bytes``; ``extra`` keys are merged on top
    (e.g. ``{"routing": {"canary": {"version": 2, "weight": 0.3}}, "warmup_batches": 0}``)."""
    document: dict[str, Any] = {
        "platform": "onnxruntime_onnx",
        "max_batch_size": max_batch_size,
        "inputs": [{"name": input_name, "datatype": datatype, "dims": list(dims)}],
        "outputs": [{"name": output_name, "datatype": datatype, "dims": list(dims)}],
    }
    document.update(extra or {})
    return document


def write_affine_model(
    root: Path,
    name: str = "affine",
    version: int = 1,
    *,
    dims: Sequence[int] = (4,),
    max_batch_size: int = 8,
    scale: float = 2.0,
    offset: float = 1.0,
    datatype: str = "FP32",
    input_name: str = "INPUT0",
    output_name: str = "OUTPUT0",
    extra: Mapping[str, Any] | None = None,
    write_yaml: bool = True,
) -> Path:
    """Write ``root/<name>/model.yaml`` (unless ``write_yaml`` is False, to add a version to an
    existing model) and ``root/<name>/<version>/model.onnx``; returns the model.onnx path.

    ``root`` is the repository directory (what ``models.repository`` points at).
    """
    if write_yaml:
        write_model_yaml(
            root,
            name,
            affine_model_document(
                dims=dims,
                max_batch_size=max_batch_size,
                datatype=datatype,
                input_name=input_name,
                output_name=output_name,
                extra=extra,
            ),
        )
    data = affine_model_bytes(
        dims=dims,
        scale=scale,
        offset=offset,
        datatype=datatype,
        input_name=input_name,
        output_name=output_name,
    )
    return write_model_file(root, name, version, data)


def write_model_file(root: Path, name: str, version: int, data: bytes) -> Path:
    """Write ``root/<name>/<version>/model.onnx`` atomically (rename), as a deployment would."""
    directory = root / name / str(version)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.onnx"
    staging = directory / ".model.onnx.tmp"
    staging.write_bytes(data)
    staging.replace(path)
    return path


def write_broken_model(
    root: Path,
    name: str = "broken",
    version: int = 1,
    *,
    dims: Sequence[int] = (4,),
    max_batch_size: int = 8,
) -> Path:
    """A valid model.yaml next to a model.onnx of garbage bytes; returns the model.onnx path."""
    write_model_yaml(root, name, affine_model_document(dims=dims, max_batch_size=max_batch_size))
    return write_model_file(root, name, version, b"this is not an onnx model\x00\xff" * 4)


def affine_expected(
    inputs: np.ndarray[Any, np.dtype[Any]], *, scale: float = 2.0, offset: float = 1.0
) -> np.ndarray[Any, np.dtype[Any]]:
    """What the affine model returns for ``inputs``, computed in the input's dtype as ORT does."""
    return inputs * inputs.dtype.type(scale) + inputs.dtype.type(offset)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    """Tuples to lists so yaml.safe_dump accepts them."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def write_mean_score_model(
    root: Path,
    name: str = "mean-score",
    version: int = 1,
    *,
    size: int = 8,
    threshold: float = 0.5,
    max_batch_size: int = 8,
) -> Path:
    """A frame-score ("anomaly" postprocess) model usable by ``detect`` and camera frames: input
    ``images`` FP32 [3, size, size] (RGB scaled to 0..1), output ``score`` [1] = the mean pixel.

    A white frame scores 1.0 (one ``anomaly`` detection at ``threshold`` <= 1), a black one 0.0.
    """
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Flatten", ["images"], ["flat"], axis=1),
            helper.make_node("ReduceMean", ["flat"], ["score"], axes=[1], keepdims=1),
        ],
        name="mean_score",
        inputs=[helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        outputs=[helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    write_model_yaml(
        root,
        name,
        {
            "max_batch_size": max_batch_size,
            "inputs": [{"name": "images", "datatype": "FP32", "dims": [3, size, size]}],
            "outputs": [{"name": "score", "datatype": "FP32", "dims": [1]}],
            "preprocess": {
                "width": size,
                "height": size,
                "layout": "NCHW",
                "color": "RGB",
                "scale": 1 / 255,
                "letterbox": False,
            },
            "postprocess": {"kind": "anomaly", "threshold": threshold},
        },
    )
    return write_model_file(root, name, version, model.SerializeToString())
