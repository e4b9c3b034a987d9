"""What an enrolled scene-anomaly model file carries for whoever loads it: the names that tell it
apart from any other ONNX model, and the digest of its weights. Enrollment (``anomaly/export.py``)
writes them and the model repository (``inference/weights_check.py``) checks them, so the definition
is here, in one neutral module both import.

The digest is part of the model file contract: a change to what ``weights_digest`` covers, or in
what order, would refuse every version enrolled before it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import external_data_helper, numpy_helper

__all__ = ["DIGEST_KEY", "GRAPH_NAME", "PRODUCER", "weights_digest"]

PRODUCER = "edge-gateway"
GRAPH_NAME = "scene_anomaly"
"""Every version wrote both, so that a model file can be told apart from any other ONNX model."""
DIGEST_KEY = "weights_sha256"
"""The metadata entry holding ``weights_digest`` of the graph, in versions enrolled since it was
recorded (older ones have none)."""


def weights_digest(graph: onnx.GraphProto, base_dir: Path | None = None) -> str:
    """Hex SHA-256 over ``graph``'s initializers in their order in the graph. Each adds a header (its
    name, data type, shape and byte count, NUL-separated, UTF-8) and then its values as little-endian
    bytes: the same whether a tensor keeps them inline or as external data, which is read from
    ``base_dir`` (None: no tensor may use external data). Raises OSError or ValueError for values
    that cannot be read (external data missing or cut short, a shape its values do not fill)."""
    digest = hashlib.sha256()
    for tensor in graph.initializer:
        if base_dir is None and external_data_helper.uses_external_data(tensor):
            raise ValueError(f"initializer {tensor.name!r} keeps its values in external data")
        try:
            values = numpy_helper.to_array(tensor, "" if base_dir is None else str(base_dir))
        except onnx.checker.ValidationError as exc:  # external data missing, or outside base_dir
            raise ValueError(str(exc)) from exc
        data = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()
        shape = ",".join(str(dimension) for dimension in tensor.dims)
        digest.update(f"{tensor.name}\0{tensor.data_type}\0{shape}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()
