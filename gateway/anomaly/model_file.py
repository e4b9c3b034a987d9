"""Reading an enrolled scene-anomaly model file back: its metadata, once it is known to be one.

A file that is not an ONNX model fails to parse, but protobuf reads an empty file, and a file cut at
the boundary between two of its fields, as a model with those fields missing, and any other ONNX
model as one without our metadata: each of them would read as a model enrolled before the frame
format was recorded, and its frames would be scored unchecked with nothing said. So the file must
show what every version of ``export.build_graph`` wrote: its producer and graph names, an opset,
and the enrollment entries that lead its metadata.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from gateway.enrolled_file import GRAPH_NAME, PRODUCER

__all__ = ["ENROLLMENT_KEYS", "read_metadata"]

ENROLLMENT_KEYS = ("enrollment_frames", "normal_quantile")
"""Metadata entries every version wrote before any other (after its threshold entry, whose name
changed, and the weights' digest, once it was recorded): a file without them was cut short."""


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata entries of an enrolled model file (``build_graph``'s ``metadata`` among them),
    read without its weights' external data. Raises OSError for a file that cannot be read and
    ValueError, naming the file and what is wrong, for one that is not a whole scene-anomaly model."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except OSError:
        raise
    except Exception as exc:  # protobuf's DecodeError (google.protobuf has no type stubs here)
        raise ValueError(f"{path} is not an ONNX model: {exc}") from exc
    if proto.ByteSize() == 0:
        raise ValueError(f"{path} is empty, not a scene-anomaly model")
    if proto.producer_name != PRODUCER or proto.graph.name != GRAPH_NAME:
        raise ValueError(
            f"{path} is not a scene-anomaly model: made by {proto.producer_name!r} with graph "
            f"{proto.graph.name!r}, where enrollment writes {PRODUCER!r} and {GRAPH_NAME!r}"
        )
    entries = {entry.key: entry.value for entry in proto.metadata_props}
    missing = [key for key in ENROLLMENT_KEYS if key not in entries]
    if not proto.opset_import or missing:
        lacking = "its opset" if not proto.opset_import else f"metadata {', '.join(missing)}"
        raise ValueError(f"{path} is cut short: a scene-anomaly model without {lacking}")
    return entries
