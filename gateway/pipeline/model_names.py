"""Cameras whose detector the model repository does not hold.

A camera's ``model`` is no config error when the repository lacks it (check-config does not read the
repository, and a model may be installed after the config, to be used from the camera's next frame
once a poll finds it), but until then the camera detects nothing: each frame fails, and only after
``health.camera_down_after_s`` would that failure make the status. A misspelt name is a mistake
better named at once, with the name likely meant: at start and at each reload in the log, and in
``/v1/status`` for as long as it lasts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from gateway.config import CameraConfig
from gateway.suggestions import closest


def missing_model_problems(cameras: Iterable[CameraConfig], names: Collection[str]) -> list[str]:
    """One line per enabled camera whose detector is not among the repository's ``names``."""
    problems = []
    for camera in cameras:
        if not camera.enabled or camera.model is None or camera.model.name in names:
            continue
        meant = closest(camera.model.name, names)
        hint = "" if meant is None else f"did you mean {meant}? "
        listed = ", ".join(sorted(names)) or "none"
        problems.append(
            f"camera {camera.id}: model {camera.model.name} is not in the model repository "
            f"({hint}models: {listed}); the camera detects nothing until it is"
        )
    return problems
