"""Which model.yaml is in force while versions serve, with real ONNX Runtime sessions and the
repository's own passes: the one they were loaded with, until a version loads with the one on disk;
meanwhile the file is a config problem naming the model, the file and why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.domain import ModelRef
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.repository import ModelRepository
from tests.support.onnx_models import (
    affine_model_bytes,
    affine_model_document,
    write_affine_model,
    write_model_file,
    write_model_yaml,
)

ROUTED = {"routing": {"default_version": 1}}


def serving(root: Path) -> ModelRepository:
    """``affine`` version 1, 4 wide, loaded from a model.yaml with no labels."""
    write_affine_model(root)
    repository = ModelRepository(root, OnnxEngine, EngineOptions(), warmup_batches=1)
    repository.scan()
    repository.load_all()
    return repository


def not_in_force(repository: ModelRepository, write: Callable[[], object]) -> str:
    """The config problem after ``write`` changes affine's model.yaml and a pass finds it, which
    leaves the model.yaml in force as it was."""
    in_force = repository.config_of("affine")
    write()
    repository.poll()
    assert repository.config_of("affine") is in_force
    (problem,) = repository.config_problems()
    return problem


def routed_after_a_pass(repository: ModelRepository) -> None:
    """After the next pass, the model.yaml with ``ROUTED`` is in force, and no problem is left."""
    repository.poll()
    config = repository.config_of("affine")
    assert config is not None
    assert config.routing.default_version == 1
    assert repository.config_problems() == []


def eight_wide_model_yaml(root: Path) -> None:
    write_model_yaml(root, "affine", affine_model_document(dims=(8,), extra=ROUTED))


def eight_wide_files(root: Path) -> None:
    write_model_file(root, "affine", 1, affine_model_bytes(dims=(8,)))


def unparsable_model_yaml(root: Path) -> None:
    (root / "affine" / "model.yaml").write_text("inputs: [unclosed\n")


def routed_model_yaml(root: Path) -> None:
    write_model_yaml(root, "affine", affine_model_document(extra=ROUTED))


@pytest.mark.parametrize(
    ("change", "why", "mend"),
    [
        # a model.yaml for files 8 wide, written before the files: in force once they arrive
        (eight_wide_model_yaml, "version 1 does not load with it: ", eight_wide_files),
        # a model.yaml that does not parse: in force once one that does is written
        (unparsable_model_yaml, "model.yaml: ", routed_model_yaml),
    ],
)
def test_a_model_yaml_out_of_force_is_a_problem_until_a_version_loads_with_one(
    tmp_path: Path, change: Callable[[Path], None], why: str, mend: Callable[[Path], None]
) -> None:
    root = tmp_path / "models"
    repository = serving(root)
    # When the model.yaml changes into one the serving version does not load with: the one it was
    # loaded with stays in force, and the file is a problem naming the model, the file and why
    problem = not_in_force(repository, lambda: change(root))
    assert problem.startswith(f"model affine: {root / 'affine' / 'model.yaml'} is not applied ({why}")
    # Then once the files and the model.yaml agree again, the model.yaml on disk is in force
    mend(root)
    routed_after_a_pass(repository)
    repository.close()


def test_a_version_not_loaded_is_described_by_the_model_yaml_it_loads_with(tmp_path: Path) -> None:
    # Given version 1 (4 wide) loaded on demand, and version 2 (6 wide) not loaded
    root = tmp_path / "models"
    write_affine_model(root)
    write_model_file(root, "affine", 2, affine_model_bytes(dims=(6,)))
    repository = ModelRepository(
        root, OnnxEngine, EngineOptions(), warmup_batches=1, preload=lambda name: False
    )
    repository.scan()
    repository.load(ModelRef("affine", 1))
    # When a model.yaml for 6 wide inputs arrives, which version 1 does not load with
    write_model_yaml(root, "affine", affine_model_document(dims=(6,), extra=ROUTED))
    repository.poll()
    # Then version 2, not loaded, advertises the inputs it will load with
    assert repository.status("affine", 2).inputs[0].shape == (-1, 6)
    # And once it loads on demand, that model.yaml is in force at once, not at the next pass
    repository.load(ModelRef("affine", 2))
    config = repository.config_of("affine")
    assert config is not None
    assert config.inputs[0].dims == (6,)
    assert repository.config_problems() == []
    repository.close()


@pytest.mark.parametrize(
    ("change", "in_force"),
    [
        # a model.yaml that reads but that version 1 does not load with: in force, nothing serving
        (eight_wide_model_yaml, (8,)),
        # a model.yaml that does not parse: none in force, the model fails as one without any
        (unparsable_model_yaml, None),
    ],
)
def test_a_model_yaml_out_of_force_is_no_problem_once_no_version_serves(
    tmp_path: Path, change: Callable[[Path], None], in_force: tuple[int, ...] | None
) -> None:
    root = tmp_path / "models"
    repository = serving(root)
    not_in_force(repository, lambda: change(root))
    # When the only version serving is removed
    (root / "affine" / "1" / "model.onnx").unlink()
    (root / "affine" / "1").rmdir()
    repository.poll()
    # Then the model.yaml on disk is what the model is, not a problem of versions serving
    assert repository.config_problems() == []
    config = repository.config_of("affine")
    assert (config.inputs[0].dims if config is not None else None) == in_force
    repository.close()
