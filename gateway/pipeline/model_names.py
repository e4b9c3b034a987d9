"""Cameras whose detector the model repository does not hold.

A camera's ``model`` is no config error when the repository lacks it (check-config does not read the
repository, and a model may be installed after the config, to be used from the camera's next frame
once a poll finds it), but until then the camera detects nothing: each frame fails, and only after
``health.camera_down_after_s`` would that failure make the status. A misspelt name, a version pinned
that is not there or a model with no version at all is a mistake better named at once, with what
the repository holds: at start and at each reload in the log, and in ``/v1/status`` for as long as
it lasts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from gateway.config import CameraConfig
from gateway.suggestions import closest

UNTIL = "the camera detects nothing until it is"


def missing_model_problems(
    cameras: Iterable[CameraConfig], versions: Mapping[str, Collection[int]]
) -> list[str]:
    """One line per enabled camera whose detector is not among the repository's models, or whose
    model has no version it could use. ``versions``: each model's version numbers."""
    problems = []
    for camera in cameras:
        if not camera.enabled or camera.model is None:
            continue
        problem = _problem(camera.model.name, camera.model.version, versions)
        if problem is not None:
            problems.append(f"camera {camera.id}: model {problem}")
    return problems


def _problem(name: str, version: int | None, versions: Mapping[str, Collection[int]]) -> str | None:
    held = versions.get(name)
    if held is None:
        meant = closest(name, versions)
        hint = "" if meant is None else f"did you mean {meant}? "
        listed = ", ".join(sorted(versions)) or "none"
        return f"{name} is not in the model repository ({hint}models: {listed}); {UNTIL}"
    if not held:
        return f"{name} has no version in the model repository; the camera detects nothing until one is added"
    if version is not None and version not in held:
        listed = ", ".join(str(number) for number in sorted(held))
        return f"{name} has no version {version} in the model repository (versions: {listed}); {UNTIL}"
    return None
