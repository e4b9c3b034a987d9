"""A model version's stamp for hot reload: its model file's, and those of the external-data files
that model file names (ONNX keeps large weights beside the graph, e.g. ``model.onnx.data``).

Stamping model.onnx alone missed a replaced ``model.onnx.data``: the old weights served until
model.onnx itself was touched, and an upload writing model.onnx before its data loaded the new
graph with old or partial weights and never reloaded. Which files a model file names is read from
its graph without its data, and only when the model file's own stamp changes; each poll stats the
files remembered. Measured on the shipped models (face-detector and yolov8n-bench, 12 MB each, no
external data; one x86 core): a pass that changes nothing took 90 us before and 96 us after (median
of 500), while reading one graph for its data files takes 3.5 ms: read at every poll, the two would
have made each pass about 80 times dearer.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

import onnx
from onnx import external_data_helper

Stamp = tuple[int, int, int]
"""(mtime_ns, size, inode) of a file: changes on every rewrite, including an atomic rename."""

VersionStamp = tuple["Stamp | None", ...]
"""The model file's stamp, then each of its external-data files' (None: missing), in path order."""


def stamp_of(path: Path) -> Stamp | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino)


class VersionStamps:
    """One model's versions' stamps, remembering which data files each model file names, keyed by
    that file's stamp, so that a poll parses only the model files that changed."""

    def __init__(self) -> None:
        self._named: dict[Path, tuple[Stamp, tuple[Path, ...]]] = {}

    def of(self, model_files: Mapping[int, Path]) -> dict[int, VersionStamp | None]:
        """Each version's stamp (None while its model file is missing); model files no longer
        listed are forgotten."""
        named: dict[Path, tuple[Stamp, tuple[Path, ...]]] = {}
        stamps: dict[int, VersionStamp | None] = {}
        for version, path in model_files.items():
            # Stat first, then read: a file rewritten between the two reads again at the next poll.
            own = stamp_of(path)
            if own is None:
                stamps[version] = None
                continue
            known = self._named.get(path)
            if known is None or known[0] != own:
                known = (own, external_data_files(path))
            named[path] = known
            stamps[version] = (own, *(stamp_of(data) for data in known[1]))
        self._named = named
        return stamps


def external_data_files(path: Path) -> tuple[Path, ...]:
    """The files ``path``'s tensors keep their data in, sorted; none for a file that does not parse
    or is no regular file (the engine names that problem when it loads it)."""
    try:
        # Opened without blocking and checked before it is read: reading a FIFO would hang the pass.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return ()
            model = onnx.load_from_string(file.read())
    except Exception:  # protobuf's DecodeError, an OSError: the engine's load fails on them too
        return ()
    locations = {
        external_data_helper.ExternalDataInfo(tensor).location
        for tensor in _tensors(model.graph)
        if external_data_helper.uses_external_data(tensor)
    }
    return tuple(sorted(path.parent / location for location in locations if location))


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor whose data ONNX Runtime reads: initializers (sparse ones' too) and node
    attributes (a Constant's value), in subgraphs (If, Loop) as well."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)
