"""Cameras whose detector the model repository cannot serve.

A camera's ``model`` is no config error when the repository lacks it (check-config does not read the
repository unless asked to, and a model may be installed after the config, to be used from the
camera's next frame once a poll finds it), but until then the camera detects nothing: each frame
fails, and only after ``health.camera_down_after_s`` would that failure make the status. A misspelt
name, a version pinned that is not there, a model with no version at all, or one none of whose
versions the camera could use loads, is better named at once, with what the repository holds: at
start and at each reload in the log, and in ``/v1/status`` for as long as it lasts.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.config import CameraConfig
from gateway.domain import ModelState, ModelVersionStatus
from gateway.printable import printable
from gateway.suggestions import closest

UNTIL = "the camera detects nothing until it is"


def missing_model_problems(
    cameras: Iterable[CameraConfig], statuses: Iterable[ModelVersionStatus]
) -> list[str]:
    """One line per enabled camera whose detector is not among the repository's models, or whose
    model has no version it could use. ``statuses``: the repository's, one per version (version 0:
    the model's own failure, as for a model with no version)."""
    models: dict[str, dict[int, ModelVersionStatus]] = {}
    for status in statuses:
        models.setdefault(status.name, {})[status.version] = status
    problems = []
    for camera in cameras:
        if not camera.enabled or camera.model is None:
            continue
        problem = _problem(camera.model.name, camera.model.version, models)
        if problem is not None:
            problems.append(f"camera {camera.id}: model {problem}")
    return problems


def _problem(name: str, version: int | None, models: dict[str, dict[int, ModelVersionStatus]]) -> str | None:
    held = models.get(name)
    if held is None:
        meant = closest(name, models)
        hint = "" if meant is None else f"did you mean {meant}? "
        listed = ", ".join(sorted(models)) or "none"
        return f"{name} is not in the model repository ({hint}models: {listed}); {UNTIL}"
    versions = {number: status for number, status in held.items() if number}
    if not versions:
        # A reason may quote a model file or ONNX Runtime: one line, whatever it holds.
        return (
            f"{name} cannot serve: {printable(held[0].reason or '')}; the camera detects nothing until it can"
        )
    if version is not None and version not in versions:
        listed = ", ".join(str(number) for number in sorted(versions))
        return f"{name} has no version {version} in the model repository (versions: {listed}); {UNTIL}"
    usable = [versions[version]] if version is not None else [versions[number] for number in sorted(versions)]
    if all(status.state is ModelState.FAILED for status in usable):
        newest = usable[-1]
        return (
            f"{newest.ref} failed to load: {printable(newest.reason or '')}; the camera detects nothing "
            "until a version loads"
        )
    return None
