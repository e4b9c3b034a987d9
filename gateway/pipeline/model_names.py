"""Cameras whose models the model repository cannot serve: the detector, and the scene-anomaly model.

A camera's ``model`` (or ``anomaly.model``) is no config error when the repository lacks it
(check-config does not read the repository unless asked to, and a model may be installed after the
config, to be used from the camera's next frame once a poll finds it), but until then the camera
detects (or scores) nothing: each frame fails, and only after ``health.camera_down_after_s`` would
that failure make the status. A misspelt name, a version pinned that is not there, a model with no
version at all, one none of whose versions the camera could use loads, or a camera naming no version
routed by the model's ``default_version`` to one that is not there or fails, is better named at once,
with what the repository holds: at start and at each reload in the log, and in ``/v1/status`` for as
long as it lasts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from gateway.config import CameraConfig
from gateway.domain import ModelReference, ModelState, ModelVersionStatus
from gateway.inference.model_config import ModelConfig
from gateway.printable import printable
from gateway.suggestions import closest
from gateway.wording import versions_listed

Models = Mapping[str, Mapping[int, ModelVersionStatus]]
"""The repository's statuses by model name and version (version 0: the model's own failure)."""


def missing_model_problems(
    cameras: Iterable[CameraConfig],
    statuses: Iterable[ModelVersionStatus],
    default_versions: Mapping[str, int] | None = None,
) -> list[str]:
    """One line per model of an enabled camera that the repository does not hold, or that has no
    version the camera could use. ``statuses``: the repository's, one per version;
    ``default_versions``: each model's ``routing.default_version`` where its model.yaml sets one."""
    models = by_name(statuses)
    return [
        f"camera {camera.id}: {problem}"
        for camera in cameras
        for _, problem in camera_model_problems(camera, models, default_versions)
    ]


def by_name(statuses: Iterable[ModelVersionStatus]) -> Models:
    models: dict[str, dict[int, ModelVersionStatus]] = {}
    for status in statuses:
        models.setdefault(status.name, {})[status.version] = status
    return models


def default_versions(names: Iterable[str], config_of: Callable[[str], ModelConfig | None]) -> dict[str, int]:
    """Each model's ``routing.default_version``, for the models whose model.yaml reads and sets one."""
    versions = {}
    for name in names:
        config = config_of(name)
        if config is not None and config.routing.default_version is not None:
            versions[name] = config.routing.default_version
    return versions


def camera_model_problems(
    camera: CameraConfig, models: Models, default_versions: Mapping[str, int] | None = None
) -> list[tuple[tuple[str, ...], str]]:
    """The camera's model problems, each with the key it is under in the camera's config. A camera
    naming no version is served the model's ``default_version`` when set (routing), not whichever
    version loads, so that version must be there and load."""
    if not camera.enabled:
        return []
    uses: list[tuple[tuple[str, ...], str, ModelReference, str]] = []
    if camera.model is not None:
        uses.append((("model",), "model", camera.model, "the camera detects nothing"))
    if camera.anomaly is not None:
        uses.append((("anomaly", "model"), "anomaly model", camera.anomaly.model, "its scene is not scored"))
    found = []
    for key, role, reference, outcome in uses:
        default = (default_versions or {}).get(reference.name)
        problem = _problem(reference.name, reference.version, default, models, outcome)
        if problem is not None:
            found.append((key, f"{role} {problem}"))
    return found


def _problem(name: str, version: int | None, default: int | None, models: Models, outcome: str) -> str | None:
    held = models.get(name)
    if held is None:
        meant = closest(name, models)
        hint = "" if meant is None else f"did you mean {meant}? "
        listed = ", ".join(sorted(models)) or "none"
        return f"{name} is not in the model repository ({hint}models: {listed}); {outcome} until it is"
    versions = {number: status for number, status in held.items() if number}
    if not versions:
        # A reason may quote a model file or ONNX Runtime: one line, whatever it holds.
        return f"{name} cannot serve: {printable(held[0].reason or '')}; {outcome} until it can"
    listed = versions_listed(versions)
    if version is not None and version not in versions:
        return (
            f"{name} has no version {version} in the model repository (versions: {listed}); "
            f"{outcome} until it is"
        )
    routed = version is None and default is not None
    if routed:
        if default not in versions:
            return (
                f"{name} routes to its default_version {default}, which is not in the model "
                f"repository (versions: {listed}); {outcome} until it is"
            )
        version = default
    usable = [versions[version]] if version is not None else [versions[number] for number in sorted(versions)]
    if all(status.state is ModelState.FAILED for status in usable):
        newest = usable[-1]
        if routed:
            return (
                f"{newest.ref} (its default_version) failed to load: {printable(newest.reason or '')}; "
                f"{outcome} until it loads"
            )
        return (
            f"{newest.ref} failed to load: {printable(newest.reason or '')}; {outcome} until a version loads"
        )
    return None
