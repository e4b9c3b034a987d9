"""A model repository that is not a directory is logged once, not on every 2 s poll (README: hot
reload names a problem once), and its return is said."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.inference.engines.base import EngineOptions
from gateway.inference.repository import ModelRepository
from tests.unit.inference.test_loaded_and_pool import DoublingEngine, FakeFactory


def test_a_missing_repository_is_logged_once_and_its_return_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "models"
    repository = ModelRepository(root, FakeFactory(DoublingEngine()), EngineOptions(), warmup_batches=0)
    with caplog.at_level(logging.INFO, logger="gateway.inference.repository"):
        repository.scan()
        for _ in range(3):
            repository.poll()
        root.mkdir()
        repository.poll()
        repository.poll()
    messages = [record.getMessage() for record in caplog.records]
    assert [message for message in messages if "is not a directory" in message] == [
        f"model repository {root} is not a directory (checked again on every poll)"
    ]
    assert messages.count(f"model repository {root} is a directory again") == 1
