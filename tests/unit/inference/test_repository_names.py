"""A model directory whose name is no model name is skipped: never loaded, never routed, said once (not
on every poll) with the rule, and said again if it comes back after it was removed."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from gateway.domain import NAME_RULE, ModelState
from gateway.errors import ModelNotFoundError
from gateway.inference.engines.base import EngineOptions
from gateway.inference.repository import ModelRepository
from tests.support.onnx_models import affine_model_document, write_model_file, write_model_yaml
from tests.unit.inference.test_loaded_and_pool import DoublingEngine, FakeFactory


def add_model(root: Path, name: str) -> None:
    write_model_yaml(root, name, affine_model_document())
    write_model_file(root, name, 1, b"the fake engine never reads it")


@pytest.mark.parametrize(
    "name",
    ["with space", "caméra", "tab\there", "new\nline", "-leading-dash", "x" * 65, "a:1"],
    ids=["space", "non-ascii", "tab", "newline", "leading-dash", "65-characters", "colon"],
)
def test_a_directory_that_is_no_model_name_is_skipped_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    # Given a repository with a valid model and one whose directory name no config could reference
    add_model(tmp_path, "good")
    add_model(tmp_path, name)
    repository = ModelRepository(tmp_path, FakeFactory(DoublingEngine()), EngineOptions(), warmup_batches=0)

    # When it is scanned, loaded and polled again and again
    with caplog.at_level(logging.WARNING, logger="gateway.inference.repository"):
        repository.scan()
        repository.load_all()
        for _ in range(3):
            repository.poll()

    # Then only the valid model is there; the other is listed as skipped, with one warning
    assert [(status.name, status.state) for status in repository.statuses()] == [("good", ModelState.READY)]
    assert repository.invalid_names() == [name]
    with pytest.raises(ModelNotFoundError):
        repository.route(name, None)
    warnings = [record.getMessage() for record in caplog.records if "is skipped" in record.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].endswith(f"is skipped: a model name is {NAME_RULE}")
    assert "\n" not in warnings[0]
    assert "\t" not in warnings[0]
    repository.close()


def test_a_skipped_name_that_comes_back_is_said_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add_model(tmp_path, "with space")
    repository = ModelRepository(tmp_path, FakeFactory(DoublingEngine()), EngineOptions(), warmup_batches=0)
    with caplog.at_level(logging.WARNING, logger="gateway.inference.repository"):
        repository.scan()
        shutil.rmtree(tmp_path / "with space")
        repository.poll()
        assert repository.invalid_names() == []
        add_model(tmp_path, "with space")
        repository.poll()
    warnings = [record.getMessage() for record in caplog.records if "is skipped" in record.getMessage()]
    assert len(warnings) == 2, warnings
    assert repository.invalid_names() == ["with space"]
    repository.close()
