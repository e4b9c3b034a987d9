"""What a reload may change about a running camera, and what waits for a restart.

A camera's reader, motion gate and sampler are built once, at start, from its source, sampling and
models (``url``, ``detect_fps``, ``model``, the anomaly model, ``motion``, timeouts, ``enabled``):
the camera keeps running those until the service restarts. Its rules, zones, lines, tracker and the
anomaly rule's timing are reloadable: the decider swaps them between two frames, handing open
events over to the rules that survive. So is its motion mask, which the sampler hands to the gate
before its next frame: a mask is drawn, reloaded and looked at again on the live view.

A reload that changes a restart-only part of a camera would half-apply if it installed the new
rules: rules bound to a model the camera does not run judge nothing (``RuleEngine.process`` skips
results of another model), so the camera's alerts would stop without a word, and new zones drawn
for a new view would be judged on the old one. So such a camera keeps its whole config in force,
rules and tracker included (its open events go on under them), and a pending-change line naming
the camera and the change stays in ``/v1/status`` until a restart applies it or a reload reverts
it. Cameras added or removed by a reload are reported the same way: the camera set is fixed at
start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.config import CameraConfig
from gateway.ingest.urls import redact_url

RELOADABLE = frozenset({"zones", "lines", "tracker", "rules", "anomaly"})
"""Camera keys a reload applies; of ``anomaly`` only the timing: its model is restart-only."""
RELOADABLE_WITHIN = frozenset({"motion.mask"})
"""Keys of a restart-only section that a reload applies all the same."""

ANOMALY_MODEL = "anomaly.model"
SECRET_KEYS = frozenset({"gstreamer_pipeline"})
"""Restart-only keys whose values may carry credentials: their change is named, not shown."""


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    cameras: tuple[CameraConfig, ...]
    """The camera configs in force after the reload: the requested one where it applies, else the
    camera's config in force before it. Exactly the cameras that run, in the requested order."""
    pending: tuple[str, ...]
    """One line per camera whose requested change waits for a restart."""


def plan_reload(
    running: Mapping[str, CameraConfig], in_force: Sequence[CameraConfig], requested: Sequence[CameraConfig]
) -> ReloadPlan:
    """``running``: the cameras as they were built at start, by id; ``in_force``: their configs as
    the last reload left them; ``requested``: the reloaded file's cameras."""
    current = {camera.id: camera for camera in in_force}
    cameras: list[CameraConfig] = []
    pending: list[str] = []
    for camera in requested:
        built = running.get(camera.id)
        if built is None:
            pending.append(f"camera {camera.id} added: it starts when the service restarts")
            continue
        changes = restart_only_changes(built, camera)
        if changes:
            pending.append(
                f"camera {camera.id}: restart to apply {', '.join(changes)}; until then the camera "
                "keeps its previous model, rules, zones and tracker"
            )
            cameras.append(current[camera.id])
        else:
            cameras.append(camera)
    requested_ids = {camera.id for camera in requested}
    for camera_id in running:
        if camera_id not in requested_ids:
            pending.append(
                f"camera {camera_id} removed: it keeps running with its previous config until the "
                "service restarts"
            )
            cameras.append(current[camera_id])
    return ReloadPlan(tuple(cameras), tuple(pending))


def restart_only_changes(before: CameraConfig, after: CameraConfig) -> list[str]:
    """The restart-only keys that differ, each as ``key old -> new`` (URLs without credentials)."""
    old, new = _restart_only(before), _restart_only(after)
    changes: list[str] = []
    for key in old:
        if old[key] == new[key]:
            continue
        if key in SECRET_KEYS:
            changes.append(f"{key} changed")
        elif key == "url":
            shown = redact_url(old[key]), redact_url(new[key])
            changes.append(
                "url credentials changed" if shown[0] == shown[1] else f"url {shown[0]} -> {shown[1]}"
            )
        else:
            changes.append(f"{key} {_shown(old[key])} -> {_shown(new[key])}")
    return changes


def _restart_only(camera: CameraConfig) -> dict[str, Any]:
    """The camera's restart-only settings as flat ``key: value`` pairs (``motion.threshold``)."""
    fields: dict[str, Any] = {}
    for key, value in camera.model_dump(mode="json", exclude=set(RELOADABLE)).items():
        if isinstance(value, dict):
            fields |= {
                f"{key}.{inner}": item
                for inner, item in value.items()
                if f"{key}.{inner}" not in RELOADABLE_WITHIN
            }
        else:
            fields[key] = value
    fields[ANOMALY_MODEL] = str(camera.anomaly.model) if camera.anomaly is not None else None
    return fields


def _shown(value: object) -> str:
    return "none" if value is None else str(value)
