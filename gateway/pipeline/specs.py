"""Config -> the plain, frozen specs the pure parts take: the rules never see a config model."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config import CameraConfig, EventTiming
from gateway.rules import specs
from gateway.rules.geometry import Zone
from gateway.rules.specs import CameraRules, RuleSpec, RuleType

ANOMALY_RULE = "anomaly"
"""The rule (and label) name of a camera's scene-anomaly alerts."""


def timing(config: EventTiming) -> specs.EventTiming:
    return specs.EventTiming(
        cooldown_s=config.cooldown_s,
        update_interval_s=config.update_interval_s,
        end_after_s=config.end_after_s,
        max_event_s=config.max_event_s,
    )


def camera_rules(camera: CameraConfig) -> CameraRules:
    zones = {
        zone.name: Zone(zone.name, tuple((float(x), float(y)) for x, y in zone.polygon))
        for zone in camera.zones
    }
    rules: list[RuleSpec] = []
    if camera.model is not None:
        for rule in camera.rules:
            rules.append(
                RuleSpec(
                    name=rule.name,
                    type=RuleType.PRESENCE,
                    model_name=camera.model.name,
                    labels=frozenset(rule.labels),
                    zones=tuple(zones[name] for name in rule.zones),
                    min_score=rule.min_score,
                    min_frames=rule.min_frames,
                    timing=timing(rule),
                )
            )
    if camera.anomaly is not None:
        rules.append(
            RuleSpec(
                name=ANOMALY_RULE,
                type=RuleType.ANOMALY,
                model_name=camera.anomaly.model.name,
                labels=frozenset({ANOMALY_RULE}),
                min_score=0.0,
                min_frames=camera.anomaly.min_frames,
                timing=timing(camera.anomaly),
            )
        )
    return CameraRules(camera.id, tuple(rules))


def rule_specs(cameras: Sequence[CameraConfig]) -> tuple[CameraRules, ...]:
    return tuple(camera_rules(camera) for camera in cameras)
