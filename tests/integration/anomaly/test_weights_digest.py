"""An enrolled model whose weights were damaged on disk (a bit flipped by a failing SD card, in the
model file or in its external data) is refused at load, at start and on hot reload, naming the file,
while the other versions keep serving; a version enrolled before the digest was recorded still loads,
said once. Real enrolled files, the repository's own engine selection, ONNX Runtime."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx.external_data_helper import ExternalDataInfo, uses_external_data

from gateway.cli import main
from gateway.domain import Image, ModelState
from gateway.enroll import Enrollment, enroll_frames
from gateway.enrolled_file import DIGEST_KEY
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.selection import EngineSelector
from gateway.inference.repository import ModelRepository

from .conftest import ScriptedClip

MODEL = "scene-anomaly-yard"
THRESHOLD_TENSOR = "fine_inverse_threshold"
"""One float: the fine scale's 1 / threshold."""
EXPONENT_BIT = 30
"""The highest exponent bit of a little-endian float32: the value times 2 ** 128."""
DAMAGED = "weights do not match the digest enrollment wrote"


def flip_weight_bit(path: Path, tensor_name: str, bit: int) -> None:
    """Flip ``bit`` of initializer ``tensor_name``'s values where they lie (``path`` itself or its
    external data file), nothing else changed; written as a copy would be (a new file in its place)."""
    proto = onnx.load(str(path), load_external_data=False)
    (tensor,) = [tensor for tensor in proto.graph.initializer if tensor.name == tensor_name]
    if uses_external_data(tensor):
        info = ExternalDataInfo(tensor)
        target, offset = path.parent / info.location, info.offset or 0  # None: from its start
    else:
        target, data = path, path.read_bytes()
        assert data.count(tensor.raw_data) == 1, f"{tensor_name}'s bytes are not unique in {path}"
        offset = data.find(tensor.raw_data)
    damaged = bytearray(target.read_bytes())
    damaged[offset + bit // 8] ^= 1 << (bit % 8)
    copy = target.with_name(f".{target.name}.copy")
    copy.write_bytes(bytes(damaged))
    os.replace(copy, target)


def score(path: Path, frame: Image) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float(session.run(["score"], {"frame": frame[np.newaxis]})[0][0])


def repository(root: Path) -> ModelRepository:
    """The repository as ``serve`` makes it (its engine selection), on the CPU."""
    made = ModelRepository(root, EngineSelector(), EngineOptions(providers=("cpu",)), warmup_batches=1)
    made.scan()
    return made


def states(made: ModelRepository) -> dict[int, tuple[ModelState, str | None]]:
    return {status.version: (status.state, status.reason) for status in made.statuses()}


def refusal(made: ModelRepository, version: int) -> str:
    """Why ``version`` failed to load (it must have)."""
    state, reason = states(made)[version]
    assert state is ModelState.FAILED
    assert reason is not None
    return reason


def load_refused(root: Path, version: int) -> str:
    """Why ``version`` failed to load when the repository at ``root`` loaded (it must have)."""
    made = repository(root)
    try:
        made.load_all()
        return refusal(made, version)
    finally:
        made.close()


def served_score(made: ModelRepository, frame: Image) -> float:
    """What an unpinned request for the model is answered with."""
    outputs = made.route(MODEL, None).engines[0].run({"frame": frame[np.newaxis]})
    return float(outputs["score"][0])


def test_a_version_with_a_flipped_weight_bit_fails_to_load_and_the_other_serves(
    tmp_path: Path, scripted_clip: ScriptedClip, enrolled: Enrollment, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given versions 1 and 2 of the camera's model, and one bit flipped in version 2's threshold
    second = enroll_frames(list(scripted_clip.normal), camera_id="yard", repository=tmp_path / "models")
    frame = scripted_clip.normal[5]
    intact = score(second.model_path, frame)
    flip_weight_bit(second.model_path, THRESHOLD_TENSOR, EXPONENT_BIT)
    # which ONNX Runtime loads and runs as ever, finding every normal frame anomalous
    assert intact < 0.5 <= score(second.model_path, frame)

    # When the repository loads them
    made = repository(tmp_path / "models")
    try:
        made.load_all()
        # Then version 2 failed, naming its file and why; version 1 serves unpinned requests
        assert states(made)[1] == (ModelState.READY, None)
        reason = refusal(made, 2)
        assert str(second.model_path) in reason
        assert DAMAGED in reason
        assert served_score(made, frame) == pytest.approx(score(enrolled.model_path, frame))
    finally:
        made.close()
    # and `models validate` says so
    assert main(["models", "validate", "--repository", str(tmp_path / "models")]) == 1
    printed = capsys.readouterr()
    assert DAMAGED in printed.out + printed.err


def test_hot_reload_keeps_the_good_weights_serving_and_refuses_a_damaged_version(
    tmp_path: Path, scripted_clip: ScriptedClip, enrolled: Enrollment, caplog: pytest.LogCaptureFixture
) -> None:
    # Given version 1 loaded and serving
    frame = scripted_clip.normal[5]
    made = repository(tmp_path / "models")
    try:
        made.load_all()
        before = served_score(made, frame)
        caplog.set_level(logging.ERROR, logger="gateway.inference.repository")
        # When its file is replaced by a damaged copy and a damaged version 2 arrives
        second = enroll_frames(list(scripted_clip.normal), camera_id="yard", repository=tmp_path / "models")
        flip_weight_bit(second.model_path, THRESHOLD_TENSOR, EXPONENT_BIT)
        flip_weight_bit(enrolled.model_path, THRESHOLD_TENSOR, EXPONENT_BIT)
        made.poll()
        # Then version 1's last good load keeps serving, version 2 failed, and both are said
        assert states(made)[1] == (ModelState.READY, None)
        refusal(made, 2)
        assert served_score(made, frame) == before < 0.5
    finally:
        made.close()
    damaged = [record.getMessage() for record in caplog.records if DAMAGED in record.getMessage()]
    assert any(f"{MODEL}:1 reload failed" in message for message in damaged), damaged
    assert any(f"{MODEL}:2 failed to load" in message for message in damaged), damaged


def test_a_flipped_bit_in_external_data_is_refused(tmp_path: Path, enrolled: Enrollment) -> None:
    # Given the model saved with its larger weights as external data (as onnx tools write it)
    path = enrolled.model_path
    onnx.save(onnx.load(str(path)), str(path), save_as_external_data=True, location="model.onnx.data")
    external = onnx.load(str(path), load_external_data=False)
    assert any(uses_external_data(tensor) for tensor in external.graph.initializer)
    # and one bit flipped in the external data file
    tensor = next(tensor for tensor in external.graph.initializer if uses_external_data(tensor))
    flip_weight_bit(path, tensor.name, EXPONENT_BIT)
    # When the repository loads it, then it fails, naming the model file
    reason = load_refused(tmp_path / "models", 1)
    assert str(path) in reason
    assert DAMAGED in reason


def test_a_model_file_cut_short_before_its_metadata_is_refused(tmp_path: Path, enrolled: Enrollment) -> None:
    # Given the file cut at the start of its metadata, which protobuf reads as a model without any
    proto = onnx.load(str(enrolled.model_path))
    whole = enrolled.model_path.read_bytes()
    proto.ClearField("metadata_props")
    cut = proto.SerializeToString()
    assert whole.startswith(cut)
    assert len(cut) < len(whole)
    enrolled.model_path.write_bytes(cut)
    # When the repository loads it, then it fails, naming the file
    assert f"{enrolled.model_path} is cut short" in load_refused(tmp_path / "models", 1)


def test_a_version_enrolled_before_the_digest_loads_unchecked_said_once(
    tmp_path: Path, scripted_clip: ScriptedClip, enrolled: Enrollment, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the model file as enrollment wrote it before the digest was recorded
    proto = onnx.load(str(enrolled.model_path))
    kept = [entry for entry in proto.metadata_props if entry.key != DIGEST_KEY]
    assert len(kept) == len(proto.metadata_props) - 1
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    onnx.save(proto, str(enrolled.model_path))
    caplog.set_level(logging.INFO)
    made = repository(tmp_path / "models")
    try:
        # When the repository loads it, polls again and serves frames
        made.load_all()
        made.poll()
        for frame in scripted_clip.normal[:5]:
            served_score(made, frame)
        found = states(made)
    finally:
        made.close()
    # Then it serves, and its load said once that its weights were not checked
    assert found[1] == (ModelState.READY, None)
    unchecked = [record for record in caplog.records if "loaded unchecked" in record.getMessage()]
    assert len(unchecked) == 1, [record.getMessage() for record in unchecked]
    assert unchecked[0].levelno == logging.WARNING
    assert str(enrolled.model_path) in unchecked[0].getMessage()
