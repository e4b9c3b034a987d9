"""``check-config --models DIR``: a config's cameras against a model repository, before it is
deployed. What ``serve`` finds at start, once it has scanned its repository (a model name none has;
a version pinned, or routed to by the model's default_version, that is not there; a model with no
version or whose model.yaml does not read; for the detector and the scene-anomaly model; a rule
following only labels its model does not report), said by ``check-config`` with the camera's line
instead: a config checked in CI can fail there, not on the box. The repository is scanned, never
loaded: no ONNX Runtime session is made, so a model file that would not load passes."""

from __future__ import annotations

from pathlib import Path

from gateway.config import ConfigSource, GatewayConfig
from gateway.errors import ConfigError, ConfigProblem
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.selection import EngineSelector
from gateway.inference.repository import ModelRepository
from gateway.pipeline.model_names import by_name, camera_model_problems, default_versions
from gateway.pipeline.rule_labels import repository_labels, unknown_labels


def check_models(config: GatewayConfig, source: ConfigSource, root: Path) -> None:
    """ConfigError listing each camera whose model, version or rule labels ``root`` cannot serve."""
    if not root.is_dir():
        raise ConfigError([ConfigProblem(str(root), None, "", "--models: not a directory")])
    repository = ModelRepository(root, EngineSelector(), EngineOptions(), warmup_batches=0)
    try:
        repository.scan()
        statuses = repository.statuses()
        configs = {name: repository.config_of(name) for name in repository.names()}  # close() forgets
    finally:
        repository.close()
    labels_of = repository_labels(configs.get)
    models = by_name(statuses)
    defaults = default_versions(configs, configs.get)
    problems: list[ConfigProblem] = []
    for index, camera in enumerate(config.cameras):
        for key, message in camera_model_problems(camera, models, defaults):
            problems.append(source.problem(("cameras", index, *key), message))
        prefix = f"camera {camera.id}: "
        for rule in unknown_labels([camera], labels_of):  # none for a model not there
            if rule.never_fires:
                problems.append(source.problem(("cameras", index, "rules"), rule.text.removeprefix(prefix)))
    if problems:
        raise ConfigError(problems)
