from __future__ import annotations

import itertools
import threading
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from gateway.anomaly.export import build_graph
from gateway.anomaly.features import GridSpec, cell_peaks, fine_cells, temporal_noise
from gateway.anomaly.fitting import fit
from gateway.anomaly.scoring import cell_scores, raw_scores, squash
from gateway.cli import main
from gateway.enroll import Enrollment, enroll_frames
from gateway.inference.model_config import load_model_config
from gateway.inference.postprocess import decode
from gateway.inference.preprocess import prepare

from .conftest import EVENT_FRAMES, HEIGHT, NORMAL_FRAMES, WIDTH, ScriptedClip

MIN_FRAMES = 3


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _repository(config_file: Path) -> Path:
    return config_file.parent / "models" / "scene-anomaly-yard"


def test_enroll_from_a_folder_writes_a_loadable_first_version(
    config_file: Path, frames_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["enroll", "--camera", "yard", "--frames", str(frames_dir), "--config", str(config_file)])

    assert code == 0
    model_dir = _repository(config_file)
    assert sorted(entry.name for entry in model_dir.iterdir()) == ["1", "model.yaml"]
    config = load_model_config(model_dir / "model.yaml")
    assert config.postprocess.kind == "anomaly"
    assert config.postprocess.threshold == 0.5
    assert config.postprocess.map_output == "map"
    assert config.preprocess is not None
    assert (config.preprocess.width, config.preprocess.height, config.preprocess.layout) == (320, 180, "NHWC")
    session = _session(model_dir / "1" / "model.onnx")
    assert [tensor.name for tensor in session.get_inputs()] == ["frame"]
    assert [tensor.name for tensor in session.get_outputs()] == ["score", "map"]
    score, cell_map = session.run(None, {"frame": np.zeros((2, 180, 320, 3), dtype=np.uint8)})
    assert score.shape == (2,)
    assert cell_map.shape == (2, 18, 32)
    progress = capsys.readouterr().err
    assert f"{NORMAL_FRAMES} frames collected; fitting" in progress
    assert "scene-anomaly-yard/1/model.onnx" in progress


def test_second_enrollment_is_version_two_and_leaves_version_one_untouched(
    config_file: Path, frames_dir: Path
) -> None:
    arguments = ["enroll", "--camera", "yard", "--frames", str(frames_dir), "--config", str(config_file)]
    assert main(arguments) == 0
    model_dir = _repository(config_file)
    first = (model_dir / "1" / "model.onnx").read_bytes()
    yaml_before = (model_dir / "model.yaml").read_bytes()

    assert main(arguments) == 0

    assert sorted(entry.name for entry in model_dir.iterdir()) == ["1", "2", "model.yaml"]
    assert (model_dir / "1" / "model.onnx").read_bytes() == first
    assert (model_dir / "model.yaml").read_bytes() == yaml_before
    _session(model_dir / "2" / "model.onnx")


def test_the_gateway_repository_loads_and_warms_every_enrolled_version(
    config_file: Path, frames_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["enroll", "--camera", "yard", "--frames", str(frames_dir), "--config", str(config_file)]
    assert main(arguments) == 0
    assert main(arguments) == 0
    capsys.readouterr()

    code = main(["models", "validate", "--config", str(config_file)])

    output = capsys.readouterr()
    assert code == 0, output.err
    assert "ok      scene-anomaly-yard:1 (CPUExecutionProvider)" in output.out
    assert "ok      scene-anomaly-yard:2 (CPUExecutionProvider)" in output.out


def test_model_alerts_on_the_scripted_object_and_not_on_the_normal_part(
    config_file: Path, frames_dir: Path, scripted_clip: ScriptedClip
) -> None:
    # Given a model enrolled on the clip's normal part, served through the gateway's own pre- and
    # post-processing
    assert (
        main(["enroll", "--camera", "yard", "--frames", str(frames_dir), "--config", str(config_file)]) == 0
    )
    model_dir = _repository(config_file)
    config = load_model_config(model_dir / "model.yaml")
    assert config.preprocess is not None
    session = _session(model_dir / "1" / "model.onnx")

    # When every frame of the clip is scored as the camera delivers it: at the size of the enrolled
    # images, resized by the same pre-processing
    flagged = []
    maps = []
    for frame in scripted_clip.frames:
        delivered = cv2.resize(frame, (WIDTH * 2, HEIGHT * 2), interpolation=cv2.INTER_LINEAR)
        tensor, letterbox = prepare(delivered, config.preprocess)
        score, cell_map = session.run(None, {"frame": tensor[np.newaxis]})
        detections, _ = decode({"score": score[0], "map": cell_map[0]}, letterbox, config.postprocess)
        flagged.append(bool(detections))
        maps.append(cell_map[0])

    # Then every frame with the object is anomalous and the map points at it; no normal frame is
    normal = flagged[:NORMAL_FRAMES] + flagged[EVENT_FRAMES.stop :]
    assert all(flagged[index] for index in EVENT_FRAMES)
    assert not any(normal)
    # (the box spans x 150..190, y 60..130: cells of 10x10 pixels, rows 6..13, columns 15..19)
    hottest = np.unravel_index(int(maps[EVENT_FRAMES.start].argmax()), (18, 32))
    assert 6 <= hottest[0] <= 13
    assert 15 <= hottest[1] <= 19
    # and the anomaly rule (score >= threshold for MIN_FRAMES frames) never fires on the normal part
    runs = [sum(1 for _ in group) for key, group in itertools.groupby(normal) if key]
    assert max(runs, default=0) < MIN_FRAMES


def test_the_graph_computes_what_the_numpy_reference_computes(
    scripted_clip: ScriptedClip, tmp_path: Path
) -> None:
    grid = GridSpec()
    normal = scripted_clip.normal
    model = fit(fine_cells(normal, grid), temporal_noise(normal, grid), cell_peaks(normal, grid), grid)
    path = tmp_path / "model.onnx"
    path.write_bytes(build_graph(model).SerializeToString())
    score, cell_map = _session(path).run(None, {"frame": scripted_clip.frames})

    cells = fine_cells(scripted_clip.frames, grid)
    np.testing.assert_allclose(score, squash(raw_scores(model, cells)), atol=1e-4)
    np.testing.assert_allclose(cell_map, squash(cell_scores(model, cells)), atol=1e-4)


def test_enroll_from_the_camera_stream(
    config_file: Path, scripted_clip: ScriptedClip, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the camera 'yard' is a 10 fps video file of the normal scene
    writer = cv2.VideoWriter(
        str(config_file.parent / "yard.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), 10, (320, 180)
    )
    for frame in scripted_clip.normal:
        writer.write(frame)
    writer.release()

    # When 4 seconds are enrolled at the camera's detect_fps (5)
    code = main(["enroll", "--camera", "yard", "--seconds", "4", "--config", str(config_file)])

    # Then about 20 sampled frames (4 s x 5 fps, give or take the edges) made version 1
    captured = capsys.readouterr()
    assert code == 0, captured.err
    frames = int(captured.out.rsplit("(", 1)[1].split()[0])
    assert 17 <= frames <= 21
    assert "stream open, sampling at 5 fps" in captured.err
    _session(_repository(config_file) / "1" / "model.onnx")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty folder", "holds no images"),
        ("unreadable image", "is not a readable image"),
        ("unknown camera", "no camera 'gate' (known: yard)"),
        ("misspelt camera", "no camera 'yrad' (did you mean 'yard'? known: yard)"),
        ("too few frames", "needs at least 10 frames, got 3"),
        ("missing stream", "no such video file"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_code_2(
    case: str, message: str, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "input"
    folder.mkdir()
    camera = "yard"
    source = ["--frames", str(folder)]
    if case == "unreadable image":
        cv2.imwrite(str(folder / "0001.png"), np.zeros((10, 10, 3), dtype=np.uint8))
        (folder / "0002.png").write_bytes(b"not a png at all")
    elif case == "unknown camera":
        camera = "gate"
    elif case == "misspelt camera":
        camera = "yrad"
    elif case == "too few frames":
        for index in range(3):
            cv2.imwrite(str(folder / f"{index}.png"), np.zeros((10, 10, 3), dtype=np.uint8))
    elif case == "missing stream":
        source = ["--seconds", "1"]

    code = main(["enroll", "--camera", camera, *source, "--config", str(config_file)])

    assert code == 2
    assert message in capsys.readouterr().err
    assert not _repository(config_file).exists() or not any(
        entry.name.isdigit() for entry in _repository(config_file).iterdir()
    )


def test_concurrent_enrollments_claim_distinct_versions(tmp_path: Path, scripted_clip: ScriptedClip) -> None:
    # Given two enrollments of the same camera racing for the next version number
    repository = tmp_path / "models"
    results: list[Enrollment] = []
    errors: list[BaseException] = []

    def enroll() -> None:
        try:
            results.append(enroll_frames(list(scripted_clip.normal), camera_id="yard", repository=repository))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=enroll, name=f"enroll-{index}") for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then each got its own complete version and no staging directory is left behind
    assert not errors
    assert sorted(result.version for result in results) == [1, 2]
    model_dir = repository / "scene-anomaly-yard"
    assert sorted(entry.name for entry in model_dir.iterdir()) == ["1", "2", "model.yaml"]
    for result in results:
        _session(result.model_path)


def test_the_next_version_follows_the_versions_the_repository_reads(
    tmp_path: Path, scripted_clip: ScriptedClip
) -> None:
    # "007" is no version to the repository (it reads only canonical numbers); counted as 7, it
    # made enrollment skip to 8.
    model_dir = tmp_path / "models" / "scene-anomaly-yard"
    (model_dir / "007").mkdir(parents=True)
    result = enroll_frames(list(scripted_clip.normal), camera_id="yard", repository=tmp_path / "models")
    assert result.version == 1
