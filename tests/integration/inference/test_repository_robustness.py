"""The model repository against odd directories, broken model.yaml files, unexpected errors and
model.yaml files that can never work, on real model files and ONNX Runtime."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from gateway.cli import main
from gateway.commands.build_engine import UsageError, resolve_model
from gateway.domain import ModelRef, ModelState
from gateway.errors import ConfigError, ModelLoadError
from gateway.inference import version_stamps
from gateway.inference.engines.base import Engine, EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.model_config import load_model_config
from gateway.inference.repository import ModelRepository
from gateway.inference.version_stamps import Stamp
from tests.integration.inference.test_repository import wait_for
from tests.support.onnx_models import (
    IR_VERSION,
    OPSET,
    affine_model_bytes,
    affine_model_document,
    write_affine_model,
    write_model_file,
    write_model_yaml,
)

REPOSITORY_LOGGER = "gateway.inference.repository"


def onnx_engine(path: Path, options: EngineOptions) -> Engine:
    return OnnxEngine(path, options)


def make_repository(root: Path, **keywords: Any) -> ModelRepository:
    repository = ModelRepository(root, onnx_engine, EngineOptions(providers=("cpu",)), **keywords)
    repository.scan()
    return repository


def output_of(repository: ModelRepository, name: str, version: int | None = None) -> float:
    loaded = repository.route(name, version)
    outputs = loaded.engines[0].run({"INPUT0": np.zeros((1, 4), np.float32)})
    return float(outputs["OUTPUT0"][0, 0])


# --- version directories ----------------------------------------------------------------------------


def test_only_canonical_version_numbers_are_versions_and_each_odd_name_is_warned_once(
    models_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given version 1 (offset 1) and directories 01, 007 and 0 holding other files (offset 5)
    write_affine_model(models_root, offset=1.0)
    for odd in ("01", "007", "0"):
        (models_root / "affine" / odd).mkdir()
        (models_root / "affine" / odd / "model.onnx").write_bytes(affine_model_bytes(offset=5.0))
    caplog.set_level(logging.WARNING, logger=REPOSITORY_LOGGER)

    # When the repository loads and polls a few times
    repository = make_repository(models_root)
    repository.load_all()
    repository.poll()
    repository.poll()

    # Then version 1 alone exists, is served from 1/, and each odd name was warned about once
    assert [(status.version, status.state) for status in repository.statuses()] == [(1, ModelState.READY)]
    assert output_of(repository, "affine") == 1.0
    skipped = [record.getMessage() for record in caplog.records if "is skipped" in record.getMessage()]
    assert sorted(skipped) == sorted(
        f"model affine: directory {odd!r} is skipped: a version directory is named by its number "
        "without leading zeros (1, 2, ...)"
        for odd in ("0", "007", "01")
    )
    repository.close()


def test_build_engine_reads_version_directories_as_the_repository_does(models_root: Path) -> None:
    write_affine_model(models_root)
    (models_root / "affine" / "007").mkdir()
    (models_root / "affine" / "007" / "model.onnx").write_bytes(affine_model_bytes())

    assert resolve_model(models_root, "affine") == (models_root / "affine" / "1" / "model.onnx", "affine:1")
    with pytest.raises(UsageError, match=r"has no version 7 with a model.onnx \(versions: 1\)"):
        resolve_model(models_root, "affine:7")


# --- a broken model.yaml of a model loaded on demand --------------------------------------------------


def test_a_broken_model_yaml_of_an_unloaded_model_is_its_config_error_and_polling_goes_on(
    models_root: Path,
) -> None:
    # Given a model in use and one that loads on demand (UNLOADED)
    write_affine_model(models_root, "used", offset=1.0)
    write_affine_model(models_root, "spare")
    repository = make_repository(models_root, preload=lambda name: name == "used")
    repository.load_all()
    assert repository.status("spare", 1).state is ModelState.UNLOADED

    # When the spare's model.yaml breaks and, in the same pass, the used model gets a new file
    (models_root / "spare" / "model.yaml").write_text("max_batch_size: many\n")
    write_model_file(models_root, "used", 1, affine_model_bytes(offset=3.0))
    repository.poll()

    # Then the spare reports its config error and the used model was still reloaded
    status = repository.status("spare", 1)
    assert status.state is ModelState.FAILED
    assert "model.yaml" in (status.reason or "")
    assert "max_batch_size" in (status.reason or "")
    assert output_of(repository, "used") == 3.0

    # And once fixed, the spare loads on demand again
    write_affine_model(models_root, "spare")
    repository.poll()
    assert repository.status("spare", 1).state is ModelState.UNLOADED
    repository.load(ModelRef("spare", 1))
    assert repository.status("spare", 1).state is ModelState.READY
    repository.close()


# --- the poll thread --------------------------------------------------------------------------------


class FirstWaitFails(threading.Event):
    """A stop event whose first ``wait`` raises, as no event should: the poller must survive it."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def wait(self, timeout: float | None = None) -> bool:
        if not self.failed:
            self.failed = True
            raise RuntimeError("wait broke")
        return super().wait(timeout)


def test_the_poll_thread_survives_an_error_outside_a_poll_pass(models_root: Path) -> None:
    write_affine_model(models_root, offset=1.0)
    repository = make_repository(models_root)
    repository.load_all()
    stop = FirstWaitFails()

    repository.start_polling(0.02, stop)
    wait_for(lambda: stop.failed)
    write_model_file(models_root, "affine", 1, affine_model_bytes(offset=4.0))

    wait_for(lambda: output_of(repository, "affine") == 4.0)
    assert repository.polling_problems() == []
    stop.set()
    repository.join_polling(5)
    repository.close()


def test_an_unexpected_error_in_one_model_is_logged_once_and_the_others_keep_reloading(
    models_root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two models, and a bug that alpha's files trigger on every poll pass
    write_affine_model(models_root, "alpha")
    write_affine_model(models_root, "beta", offset=1.0)
    real_stamp_of = version_stamps.stamp_of
    alpha_passes: list[Path] = []

    def buggy_stamp_of(path: Path) -> Stamp | None:
        if path.parent.name == "alpha":
            alpha_passes.append(path)
            raise RuntimeError("a bug only alpha's files trigger")
        return real_stamp_of(path)

    repository = make_repository(models_root)
    repository.load_all()
    monkeypatch.setattr("gateway.inference.repository_files.stamp_of", buggy_stamp_of)
    caplog.set_level(logging.ERROR, logger="gateway.inference")
    stop = threading.Event()
    repository.start_polling(0.02, stop)

    # When several passes have met the bug, and then beta's file changes
    wait_for(lambda: len(alpha_passes) >= 3)
    write_model_file(models_root, "beta", 1, affine_model_bytes(offset=5.0))

    # Then beta is reloaded, the thread lives, and alpha's problem was logged once
    wait_for(lambda: output_of(repository, "beta") == 5.0)
    assert repository.polling_problems() == []
    stop.set()
    repository.join_polling(5)
    logged = [
        record for record in caplog.records if "a bug only alpha's files trigger" in record.getMessage()
    ]
    assert len(logged) == 1
    assert logged[0].getMessage().startswith("model alpha: hot reload failed")
    repository.close()


class GatedFactory:
    """Real engines; building the ``gate_at``-th waits for ``gate`` (a reload's replacement)."""

    def __init__(self, gate_at: int) -> None:
        self.built: list[OnnxEngine] = []
        self.closed: list[OnnxEngine] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self._gate_at = gate_at

    def __call__(self, path: Path, options: EngineOptions) -> Engine:
        if len(self.built) + 1 == self._gate_at:
            self.entered.set()
            assert self.gate.wait(10)
        engine = OnnxEngine(path, options)
        real_close = engine.close

        def close() -> None:
            self.closed.append(engine)
            real_close()

        engine.close = close  # type: ignore[method-assign]
        self.built.append(engine)
        return engine


def test_a_reload_that_finishes_after_the_model_was_unloaded_lets_its_build_go(models_root: Path) -> None:
    # Given a loaded model whose file changes, and a pass rebuilding it
    write_affine_model(models_root)
    factory = GatedFactory(gate_at=2)
    repository = ModelRepository(models_root, factory, EngineOptions(providers=("cpu",)), warmup_batches=1)
    repository.scan()
    repository.load_all()
    write_model_file(models_root, "affine", 1, affine_model_bytes(offset=3.0))
    failures: list[BaseException] = []

    def poll() -> None:
        try:
            repository.poll()
        except BaseException as exc:
            failures.append(exc)

    rebuilding = threading.Thread(target=poll)
    rebuilding.start()
    assert factory.entered.wait(10)
    # When the model is unloaded meanwhile (close(), or another pass), and then the build ends
    repository.close()
    factory.gate.set()
    rebuilding.join(10)

    # Then the pass ends quietly (it raised an illegal state move) and its build is closed, not left live
    assert failures == []
    assert len(factory.built) == 2
    assert set(map(id, factory.closed)) == set(map(id, factory.built))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_poll_thread_that_died_is_a_health_problem(
    models_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_affine_model(models_root)
    repository = make_repository(models_root)
    repository.load_all()

    def exits() -> list[str]:
        raise SystemExit  # not an Exception: the one way left for the thread to end early

    monkeypatch.setattr(repository._files, "model_names", exits)
    stop = threading.Event()
    repository.start_polling(0.01, stop)
    repository.join_polling(5)

    assert repository.polling_problems() == ["model-repository-poll died: model files are no longer reloaded"]
    stop.set()
    assert repository.polling_problems() == []
    repository.close()


# --- max_batch_size and unexpected load errors --------------------------------------------------------


def test_validate_refuses_a_max_batch_size_no_memory_holds(
    models_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_affine_model(models_root, max_batch_size=1_000_000)

    assert main(["models", "validate", "--repository", str(models_root)]) == 1

    error = capsys.readouterr().err
    assert "FAILED  affine:1: model.yaml: " in error
    assert "max_batch_size" in error
    assert "must be at most 1024, got 1000000" in error


def test_validate_warms_up_with_the_batch_serve_forms(
    models_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # On CPU serve merges no items (a batch of 1), so validate must not warm up max_batch_size rows.
    write_affine_model(models_root, max_batch_size=1024)
    rows: list[int] = []
    real_run = OnnxEngine.run

    def counting_run(engine: OnnxEngine, feeds: Any) -> Any:
        rows.append(len(feeds["INPUT0"]))
        return real_run(engine, feeds)

    monkeypatch.setattr(OnnxEngine, "run", counting_run)

    assert main(["models", "validate", "--repository", str(models_root)]) == 0
    assert rows
    assert max(rows) == 1
    capsys.readouterr()


class ExplodingFactory:
    """The real engine, whose runs raise ``error``: what a bug or an exhausted box looks like."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __call__(self, path: Path, options: EngineOptions) -> Engine:
        engine = OnnxEngine(path, options)
        error = self.error

        def run(feeds: Any) -> Any:
            raise error

        engine.run = run  # type: ignore[method-assign]
        return engine


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (MemoryError("Unable to allocate 1.12 TiB"), "does not fit in memory"),
        (RuntimeError("a bug in an engine"), "RuntimeError while loading: a bug in an engine"),
    ],
)
def test_an_unexpected_error_while_loading_fails_that_version_with_its_reason(
    models_root: Path, error: Exception, reason: str
) -> None:
    write_affine_model(models_root)
    repository = ModelRepository(
        models_root, ExplodingFactory(error), EngineOptions(providers=("cpu",)), warmup_batches=1
    )
    repository.scan()
    repository.load_all()  # must not raise

    status = repository.status("affine", 1)
    assert status.state is ModelState.FAILED
    assert reason in (status.reason or "")
    with pytest.raises(ModelLoadError, match=reason):
        repository.load(ModelRef("affine", 1))
    repository.close()


# --- model.yaml files that can never work fail at load -----------------------------------------------


def fixed_output_model_bytes(size: int, output_dims: tuple[int, int]) -> bytes:
    """``images`` FP32 [batch, 3, size, size] -> ``output0`` FP32 [batch, *output_dims], every value
    the image's mean: the output's shape is fixed in the file, as in an Ultralytics export."""
    graph = helper.make_graph(
        nodes=[
            helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
            helper.make_node("Squeeze", ["mean", "last"], ["column"]),
            helper.make_node("Expand", ["column", "shape"], ["output0"]),
        ],
        name="fixed_output",
        inputs=[helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        outputs=[helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", *output_dims])],
        initializer=[
            onnx.numpy_helper.from_array(np.array([3], dtype=np.int64), "last"),
            onnx.numpy_helper.from_array(np.array([1, *output_dims], dtype=np.int64), "shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


LABELS = [f"class{index}" for index in range(18)]


def detector_document(
    *, output_dims: list[int], preprocess: dict[str, Any] | None = None, postprocess: dict[str, Any]
) -> dict[str, Any]:
    return {
        "max_batch_size": 2,
        "inputs": [{"name": "images", "datatype": "FP32", "dims": [3, 8, 8]}],
        "outputs": [{"name": "output0", "datatype": "FP32", "dims": output_dims}],
        "preprocess": {"width": 8, "height": 8, "layout": "NCHW", "color": "RGB", **(preprocess or {})},
        "postprocess": postprocess,
    }


@pytest.mark.parametrize(
    ("output_dims", "preprocess", "postprocess", "problem"),
    [
        (
            [22, 40],
            None,
            {"kind": "yolov8", "labels": ["a", "b"]},
            r"kind yolov8 with 2 labels needs output 'output0' to be \[4 \+ 2 classes, anchors\] per item, "
            r"the model gives \[22, 40\]",
        ),
        (
            [-1, -1],  # model.yaml leaves it open, the file fixes it
            None,
            {"kind": "yolov8", "labels": ["a", "b"]},
            r"kind yolov8 with 2 labels .* the model gives \[22, 40\]",
        ),
        (
            [22, 40],
            None,
            {"kind": "yolov5", "labels": LABELS},
            r"kind yolov5 with 18 labels needs output 'output0' to be \[anchors, 5 \+ 18 classes\]",
        ),
        (
            [22, 40],
            {"mean": [1, 2]},
            {"kind": "yolov8", "labels": LABELS},
            "mean has 2 values for 3 channels",
        ),
        ([22, 40], {"std": [0, 0, 0]}, {"kind": "yolov8", "labels": LABELS}, "std must not contain 0"),
        (
            [22, 40],
            {"width": 16},
            {"kind": "yolov8", "labels": LABELS},
            r"input 'images' is \[3, 8, 8\] per item \(-1: dynamic\), where preprocess makes \[3, 8, 16\]",
        ),
        (
            [22, 40],
            {"datatype": "UINT8"},
            {"kind": "yolov8", "labels": LABELS},
            "input 'images' is FP32, where preprocess makes UINT8",
        ),
        (
            [22, 40],
            None,
            {"kind": "anomaly", "threshold": 0.5},
            r"anomaly score output 'output0' has shape \[22, 40\] per item, one value is needed",
        ),
    ],
)
def test_a_model_yaml_that_would_fail_every_frame_fails_at_load(
    models_root: Path,
    output_dims: list[int],
    preprocess: dict[str, Any] | None,
    postprocess: dict[str, Any],
    problem: str,
) -> None:
    document = detector_document(output_dims=output_dims, preprocess=preprocess, postprocess=postprocess)
    write_model_yaml(models_root, "detector", document)
    write_model_file(models_root, "detector", 1, fixed_output_model_bytes(8, (22, 40)))
    repository = make_repository(models_root)
    repository.load_all()

    status = repository.status("detector", 1)
    assert status.state is ModelState.FAILED
    with pytest.raises(ModelLoadError, match=problem):
        repository.load(ModelRef("detector", 1))
    repository.close()


def test_a_model_yaml_that_fits_its_file_loads_and_detects(models_root: Path) -> None:
    write_model_yaml(
        models_root,
        "detector",
        detector_document(
            output_dims=[22, 40],
            preprocess={"mean": [0, 0, 0], "std": [1]},
            postprocess={"kind": "yolov8", "labels": LABELS},
        ),
    )
    write_model_file(models_root, "detector", 1, fixed_output_model_bytes(8, (22, 40)))
    repository = make_repository(models_root)
    repository.load_all()

    assert repository.status("detector", 1).state is ModelState.READY
    repository.close()


def test_validate_names_a_model_yaml_that_would_fail_every_frame(
    models_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model_yaml(
        models_root,
        "detector",
        detector_document(output_dims=[22, 40], postprocess={"kind": "yolov8", "labels": ["a", "b"]}),
    )
    write_model_file(models_root, "detector", 1, fixed_output_model_bytes(8, (22, 40)))

    assert main(["models", "validate", "--repository", str(models_root)]) == 1

    assert "FAILED  detector:1: postprocess kind yolov8 with 2 labels" in capsys.readouterr().err


def test_max_batch_size_above_the_bound_is_a_config_error(tmp_path: Path) -> None:
    write_affine_model(tmp_path, max_batch_size=1025)
    with pytest.raises(ConfigError, match="max_batch_size"):
        load_model_config(tmp_path / "affine" / "model.yaml")


def test_a_model_without_versions_is_listed_failed_saying_what_a_version_is(
    models_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a model whose model.yaml reads but which has no version directory yet
    write_affine_model(models_root)
    write_model_yaml(models_root, "pending", affine_model_document())

    # Then the repository lists it as failed, and validate says why, without a version number
    repository = make_repository(models_root)
    (pending,) = [status for status in repository.statuses() if status.name == "pending"]
    repository.close()
    assert (pending.version, pending.state) == (0, ModelState.FAILED)
    expected = (
        "model has no versions: a version is a directory named by its number holding model.onnx "
        "(1/model.onnx)"
    )
    assert pending.reason == expected
    assert main(["models", "validate", "--repository", str(models_root)]) == 1
    assert f"FAILED  pending: {expected}\n" in capsys.readouterr().err
    assert main(["models", "list", "--repository", str(models_root)]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("pending ")]
    assert row.split()[:3] == ["pending", "-", "failed"]
