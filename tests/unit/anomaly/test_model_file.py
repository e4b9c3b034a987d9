"""An enrolled model file read back: a whole one of any version gives its metadata; an empty one, one
cut short at a field boundary (which protobuf parses) or another ONNX model is named as such."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from gateway.anomaly.export import build_graph
from gateway.anomaly.features import GridSpec, cell_peaks, fine_cells, temporal_noise
from gateway.anomaly.fitting import fit
from gateway.anomaly.model_file import read_metadata
from gateway.domain import ModelRef
from gateway.enroll import enrolled_format
from gateway.rules.scene_format import SceneFormat
from tests.support.onnx_models import affine_model_bytes

GRID = GridSpec(height=60, width=80, rows=6, columns=8)
METADATA = {"camera_id": "yard", "enrolled_at": "1764000000", "frame_size": "80x60"}


@pytest.fixture(scope="module")
def enrolled() -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    scene = rng.uniform(40, 200, size=(1, 60, 80, 3))
    frames = np.clip(scene + rng.normal(0, 3, size=(12, 60, 80, 3)), 0, 255).astype(np.uint8)
    model = fit(fine_cells(frames, GRID), temporal_noise(frames, GRID), cell_peaks(frames, GRID), GRID)
    return build_graph(model, METADATA)


def _without(proto: onnx.ModelProto, *fields: str) -> bytes:
    """The file cut just before ``fields``, which are serialised last: a prefix of the whole file."""
    shortened = onnx.ModelProto()
    shortened.CopyFrom(proto)
    for field in fields:
        shortened.ClearField(field)
    data: bytes = shortened.SerializeToString()
    assert proto.SerializeToString().startswith(data)
    return data


def _written(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "scene-anomaly-yard" / "1" / "model.onnx"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return path


def test_a_whole_model_file_gives_its_metadata(tmp_path: Path, enrolled: onnx.ModelProto) -> None:
    entries = read_metadata(_written(tmp_path, enrolled.SerializeToString()))
    assert {key: entries[key] for key in METADATA} == METADATA
    assert entries["enrollment_frames"] == "12"


def test_a_model_file_of_the_first_version_reads_as_no_recorded_format(
    tmp_path: Path, enrolled: onnx.ModelProto
) -> None:
    # Given the metadata the first enrollment wrote (one raw threshold, no frame format)
    old = onnx.ModelProto()
    old.CopyFrom(enrolled)
    del old.metadata_props[:]
    onnx.helper.set_model_props(
        old, {"raw_threshold": "5", "enrollment_frames": "12", "normal_quantile": "0.1", "camera_id": "yard"}
    )
    _written(tmp_path, old.SerializeToString())
    # Then its format is unknown, which scores its frames as before
    assert enrolled_format(tmp_path, ModelRef("scene-anomaly-yard", 1)) == SceneFormat()


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        (lambda proto: b"", "is empty"),
        (lambda proto: _without(proto, "opset_import", "metadata_props"), "cut short: .* without its opset"),
        (lambda proto: _without(proto, "metadata_props"), "cut short: .* without metadata enrollment_frames"),
        (lambda proto: proto.SerializeToString()[:-7], "not an ONNX model"),
        (lambda proto: affine_model_bytes(), "not a scene-anomaly model: made by '' with graph 'affine'"),
    ],
    ids=["empty", "before-opset", "before-metadata", "mid-field", "another-model"],
)
def test_a_file_that_is_not_a_whole_scene_anomaly_model_is_named(
    tmp_path: Path, enrolled: onnx.ModelProto, cut: object, problem: str
) -> None:
    # Given a version whose model.onnx is not what enrollment wrote
    path = _written(tmp_path, cut(enrolled))  # type: ignore[operator]
    # When what it was enrolled on is looked up, then the file and its problem are named
    with pytest.raises(ValueError, match=problem) as caught:
        enrolled_format(tmp_path, ModelRef("scene-anomaly-yard", 1))
    assert str(path) in str(caught.value)
