"""A model name or version the repository does not hold (a request's, a camera's) is refused naming
it, with the model likely meant when one is close or the versions there are: the /v2 404 and a
camera's last error say so."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ModelNotFoundError
from gateway.inference.engines.base import EngineOptions
from gateway.inference.repository import ModelRepository
from tests.support.onnx_models import affine_model_document, write_model_file, write_model_yaml
from tests.unit.inference.test_loaded_and_pool import DoublingEngine, FakeFactory
from tests.unit.inference.test_repository_names import add_model


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ("face-detecter", "unknown model 'face-detecter'; did you mean 'face-detector'?"),
        ("person", "unknown model 'person'"),
    ],
)
def test_an_unknown_model_is_named_with_the_one_likely_meant(
    tmp_path: Path, asked: str, message: str
) -> None:
    add_model(tmp_path, "face-detector")
    add_model(tmp_path, "yolov8n-bench")
    repository = ModelRepository(tmp_path, FakeFactory(DoublingEngine()), EngineOptions(), warmup_batches=0)
    repository.scan()
    with pytest.raises(ModelNotFoundError) as raised:
        repository.route(asked, None)
    assert str(raised.value) == message
    repository.close()


def test_an_unknown_version_is_named_with_the_versions_there_are(tmp_path: Path) -> None:
    add_model(tmp_path, "face-detector")
    write_model_file(tmp_path, "face-detector", 3, b"the fake engine never reads it")
    write_model_yaml(tmp_path, "empty", affine_model_document())
    repository = ModelRepository(tmp_path, FakeFactory(DoublingEngine()), EngineOptions(), warmup_batches=0)
    repository.scan()
    assert [(status.name, status.version) for status in repository.statuses()] == [
        ("empty", 0),
        ("face-detector", 1),
        ("face-detector", 3),
    ]
    with pytest.raises(ModelNotFoundError) as raised:
        repository.route("face-detector", 2)
    assert str(raised.value) == "model 'face-detector' has no version 2 (versions: 1, 3)"
    with pytest.raises(ModelNotFoundError) as raised:
        repository.route("empty", 1)
    assert str(raised.value) == "model 'empty' has no version 1 (versions: none)"
    repository.close()
