"""Hot reload of a version whose weights are ONNX external data (``model.onnx.data`` beside the
graph), with real ONNX Runtime sessions and the repository's own poll passes: a change of the data
file is a change of the version, and a data-file entry that no ONNX tool reads fails its version
alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from gateway.domain import ModelRef, ModelState
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.repository import ModelRepository
from tests.support.onnx_models import affine_model_bytes, write_affine_model

ROW = np.arange(4, dtype=np.float32)[np.newaxis]
DATA_FILE = "model.onnx.data"


def save_affine(directory: Path, *, offset: float) -> None:
    """``affine`` with ``offset`` as ``directory``/model.onnx, its scale and offset in ``DATA_FILE``."""
    onnx.save_model(
        onnx.load_from_string(affine_model_bytes(offset=offset)),
        str(directory / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=DATA_FILE,
        size_threshold=0,
    )


def write_external_weights(root: Path, *, offset: float, graph: bool = True, data: bool = True) -> None:
    """``affine`` version 1 with its scale and offset in ``model.onnx.data``; ``graph`` and ``data``
    say which of the two files to write, each atomically as a deployment would."""
    directory = root / "affine" / "1"
    staging = directory / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    save_affine(staging, offset=offset)
    for name, wanted in (("model.onnx", graph), (DATA_FILE, data)):
        if wanted:
            (staging / name).replace(directory / name)
    for left in staging.iterdir():
        left.unlink()
    staging.rmdir()


def offset_served(repository: ModelRepository) -> float:
    loaded = repository.current(ModelRef("affine", 1))
    return float(loaded.engines[0].run({"INPUT0": ROW})["OUTPUT0"][0, 0]) - float(ROW[0, 0]) * 2.0


@pytest.fixture
def repository(tmp_path: Path) -> ModelRepository:
    root = tmp_path / "models"
    write_affine_model(root)  # its model.yaml; model.onnx is replaced by one with external data
    write_external_weights(root, offset=1.0)
    repository = ModelRepository(root, OnnxEngine, EngineOptions(), warmup_batches=0)
    repository.scan()
    repository.load_all()
    return repository


def test_weights_replaced_in_the_data_file_alone_are_reloaded(repository: ModelRepository) -> None:
    assert offset_served(repository) == 1.0
    # When only model.onnx.data is replaced, model.onnx left as it was
    write_external_weights(repository.root, offset=5.0, graph=False)
    repository.poll()
    # Then the next pass reloads the version with the new weights
    assert offset_served(repository) == 5.0
    repository.close()


def test_a_graph_written_before_its_data_loads_once_the_data_arrives(tmp_path: Path) -> None:
    # Given a version whose model.onnx arrived, its data file not yet
    root = tmp_path / "models"
    write_affine_model(root)
    write_external_weights(root, offset=3.0, data=False)
    repository = ModelRepository(root, OnnxEngine, EngineOptions(), warmup_batches=0)
    repository.scan()
    repository.load_all()
    assert repository.status("affine", 1).state is ModelState.FAILED
    # When the data file arrives
    write_external_weights(root, offset=3.0, graph=False)
    repository.poll()
    # Then the version loads with it, not left failed until model.onnx is touched
    assert offset_served(repository) == 3.0
    repository.close()


def write_bad_external_entry(root: Path, version: int, field: str, value: str) -> None:
    """``affine`` version ``version`` whose weights' external-data entry has ``field`` set to
    ``value``: an entry no ONNX tool reads (a negative offset, a NUL in its location)."""
    directory = root / "affine" / str(version)
    directory.mkdir(parents=True)
    save_affine(directory, offset=7.0)
    model = onnx.load(str(directory / "model.onnx"), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == field:
            entry.value = value
    (directory / "model.onnx").write_bytes(model.SerializeToString())


BAD_ENTRIES = pytest.mark.parametrize(
    ("field", "value"), [("offset", "-1"), ("offset", "ten"), ("location", "model\x00.data")]
)


@BAD_ENTRIES
def test_a_version_with_a_bad_external_data_entry_leaves_the_others_serving(
    tmp_path: Path, field: str, value: str
) -> None:
    # Given version 1 whole and version 2 whose weights' entry no ONNX tool reads
    root = tmp_path / "models"
    write_affine_model(root)
    write_bad_external_entry(root, 2, field, value)
    # When the repository loads them
    repository = ModelRepository(root, OnnxEngine, EngineOptions(), warmup_batches=0)
    repository.scan()
    repository.load_all()
    # Then version 2 fails alone and version 1 serves
    assert repository.status("affine", 2).state is ModelState.FAILED
    assert repository.status("affine", 1).state is ModelState.READY
    assert offset_served(repository) == 1.0
    repository.close()


@BAD_ENTRIES
def test_hot_reload_goes_on_past_a_version_with_a_bad_external_data_entry(
    repository: ModelRepository, field: str, value: str
) -> None:
    # Given version 1 serving, and then a version 2 whose weights' entry no ONNX tool reads
    write_bad_external_entry(repository.root, 2, field, value)
    repository.poll()
    assert repository.status("affine", 2).state is ModelState.FAILED
    # When version 1's weights are replaced
    write_external_weights(repository.root, offset=4.0, graph=False)
    repository.poll()
    # Then the pass reloads it
    assert offset_served(repository) == 4.0
    repository.close()
