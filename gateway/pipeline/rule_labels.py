"""Rules that follow labels their camera's detector never reports.

A rule's ``labels`` are matched against the labels of the detections, which come from the model's
``model.yaml`` (``postprocess.keep_labels``, else ``postprocess.labels``). A label the model does
not have is no config error (check-config does not read the model repository, and the model may be
installed after the config), but a rule following only such labels can never fire. The gateway
checks once the models are known, at start and at each reload, and names the camera, the rule and
the missing labels in its log and in ``/v1/status``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from gateway.config import CameraConfig
from gateway.domain import ModelReference
from gateway.inference.model_config import ModelConfig
from gateway.printable import printable_list

logger = logging.getLogger(__name__)

LabelsOf = Callable[[ModelReference], "frozenset[str] | None"]
"""A model's labels, or None when they cannot be known."""


def repository_labels(config_of: Callable[[str], ModelConfig | None]) -> LabelsOf:
    """From the model repository's reading of each model.yaml (``ModelRepository.config_of``). None
    for a model that is missing or whose model.yaml does not parse (the camera's model failure
    reports that), and for a model that declares no labels (raw tensors, anomaly): there is nothing
    to check against."""

    def labels_of(model: ModelReference) -> frozenset[str] | None:
        config = config_of(model.name)
        if config is None:
            return None
        return frozenset(config.postprocess.keep_labels or config.postprocess.labels) or None

    return labels_of


def unknown_label_problems(
    cameras: Sequence[CameraConfig], labels_of: LabelsOf, *, log: bool = True
) -> list[str]:
    """One line per rule following only labels its camera's detector does not report (it can never
    fire); a rule that follows some it does not report is logged as a warning, no problem: a rule
    shared by cameras on different models (a YAML anchor) is written that way. ``log``: False where
    the caller says the problems itself (check-config) and a running gateway's warnings do not
    belong."""
    problems: list[str] = []
    for camera in cameras:
        if camera.model is None or not camera.rules:
            continue
        known = labels_of(camera.model)
        if known is None:
            continue
        for rule in camera.rules:
            missing = sorted(set(rule.labels) - known)
            if not missing:
                continue
            never_fires = len(missing) == len(set(rule.labels))
            outcome = "it can never fire" if never_fires else "they never match"
            # The model's labels and the rule's are anyone's text: escaped, neither can forge a line.
            problem = (
                f"camera {camera.id}: rule {rule.name} follows labels {printable_list(missing)} that "
                f"model {camera.model} does not have ({outcome}; its labels: {printable_list(sorted(known))})"
            )
            if log:
                logger.warning("%s", problem, extra={"camera": camera.id, "model": str(camera.model)})
            if never_fires:
                problems.append(problem)
    return problems
