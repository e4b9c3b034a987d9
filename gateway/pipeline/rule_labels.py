"""Rules that follow labels their camera's detector never reports.

A rule's ``labels`` are matched against the labels of the detections, which come from the model's
``model.yaml`` (``postprocess.keep_labels``, else ``postprocess.labels``). A label the model does
not have is no config error (check-config does not read the model repository, and the model may be
installed after the config), but a rule following only such labels can never fire. The gateway
logs them once the models are known, at start and at each reload, naming the camera, the rule and
the missing labels, and lists those that can never fire in ``/v1/status`` for as long as that lasts
(a model reloads on its own when its model.yaml changes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.config import CameraConfig
from gateway.domain import ModelReference
from gateway.inference.model_config import ModelConfig
from gateway.printable import printable_list

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


@dataclass(frozen=True, slots=True)
class UnknownLabels:
    """A rule following labels its camera's detector does not report. ``never_fires``: none of its
    labels is reported, a problem; otherwise a warning only (a rule shared by cameras on different
    models, a YAML anchor, is written that way)."""

    camera_id: str
    model: ModelReference
    text: str
    never_fires: bool


def unknown_labels(cameras: Sequence[CameraConfig], labels_of: LabelsOf) -> list[UnknownLabels]:
    """Each rule following labels its camera's detector does not report; the caller says them (the
    gateway logs each and lists those that never fire in its status, check-config prints those)."""
    found: list[UnknownLabels] = []
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
            text = (
                f"camera {camera.id}: rule {rule.name} follows labels {printable_list(missing)} that "
                f"model {camera.model} does not have ({outcome}; its labels: {printable_list(sorted(known))})"
            )
            found.append(UnknownLabels(camera.id, camera.model, text, never_fires))
    return found
