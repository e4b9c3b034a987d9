"""What a reload may change of the service-wide settings, and what waits for a restart.

The outbox, its signing key and the MQTT session are opened at start under ``device_id`` and in
``state_dir``; the API is bound to ``http`` (a reload does read the tokens file again and apply its
tokens, ``api.tokens.TokensInUse``, but not a new ``http.tokens_file`` path); the model repository,
the inference pool, admission control, the outbox's and the publisher's settings are built once. A
reload cannot move any of them, so a change to one is kept back, named in a warning and in
``/v1/status`` until a restart applies it (or a later reload reverts it), and the gateway goes on
with the values it was started with: a ``device_id`` shown by ``/v1/status`` but not signed into
the alerts would be worse than either.

What a reload applies: the cameras (``gateway.pipeline.camera_changes`` says which of their keys),
``health`` and ``inference.stuck_after_s``, each read where it is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.config import CameraConfig, GatewayConfig

RELOADABLE = frozenset({"cameras", "health", "inference.stuck_after_s"})
"""Settings a reload applies; every other one waits for a restart."""

_ABSENT = object()

HIDDEN = frozenset({"mqtt.url", "mqtt.username"})
"""Restart-only settings whose values may carry credentials: their change is named, not shown."""


def restart_only_changes(built: GatewayConfig, requested: GatewayConfig) -> list[str]:
    """The restart-only settings that differ between the config the gateway was started with and
    ``requested``, each as ``key old -> new`` (``key changed`` where the value is not shown)."""
    old, new = _restart_only(built), _restart_only(requested)
    changes: list[str] = []
    for key in [*old, *(key for key in new if key not in old)]:
        before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if before == after:
            continue
        if before is _ABSENT or after is _ABSENT:
            # A section added or removed (``mqtt``): its settings are named by the section.
            section = key.split(".", 1)[0]
            change = f"{section} {'added' if before is _ABSENT else 'removed'}"
            if change not in changes:
                changes.append(change)
        elif key in HIDDEN:
            changes.append(f"{key} changed")
        else:
            changes.append(f"{key} {_shown(before)} -> {_shown(after)}")
    return changes


def in_force(
    built: GatewayConfig, requested: GatewayConfig, cameras: Sequence[CameraConfig]
) -> GatewayConfig:
    """The config in force after a reload of ``requested``: the restart-only settings of ``built``,
    the reloadable ones of ``requested``, and ``cameras`` (the reload plan's)."""
    inference = built.inference.model_copy(update={"stuck_after_s": requested.inference.stuck_after_s})
    return built.model_copy(
        update={"cameras": list(cameras), "health": requested.health, "inference": inference}
    )


def pending_line(changes: list[str]) -> str:
    """The line the log and ``/v1/status`` show for ``changes`` (``restart_only_changes``)."""
    return (
        f"restart to apply {', '.join(changes)}; until then the gateway keeps running with the "
        "values it was started with"
    )


def _restart_only(config: GatewayConfig) -> dict[str, Any]:
    """The restart-only settings as flat ``key: value`` pairs (``http.port``); an absent section
    (``mqtt: null``) has none."""
    fields: dict[str, Any] = {}

    def flatten(prefix: str, value: Any) -> None:
        if prefix in RELOADABLE:
            return
        if value is None and "." not in prefix:
            return  # an optional section, absent
        if isinstance(value, dict):
            for key, item in value.items():
                flatten(f"{prefix}.{key}" if prefix else key, item)
        else:
            fields[prefix] = value

    flatten("", config.model_dump(mode="json"))
    return fields


def _shown(value: object) -> str:
    return "none" if value is None else str(value)
