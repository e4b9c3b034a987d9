"""Config -> the plain, frozen specs the pure parts take: rules and trackers never see a config model."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config import ANOMALY_RULE, CameraConfig, EventTiming, RuleConfig
from gateway.rules import specs
from gateway.rules.geometry import Line, Zone
from gateway.rules.specs import CameraRules, CrossingDirection, RuleSpec, RuleType
from gateway.tracking import TrackerSpec


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
    lines = {
        line.name: Line(
            line.name,
            (float(line.points[0][0]), float(line.points[0][1])),
            (float(line.points[1][0]), float(line.points[1][1])),
            (float(line.in_direction[0]), float(line.in_direction[1])),
        )
        for line in camera.lines
    }
    rules: list[RuleSpec] = []
    if camera.model is not None:
        rules += [
            rule_spec(rule, camera.model.name, zones, lines, camera.tracker.max_lost_s)
            for rule in camera.rules
        ]
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
                new_normal_after_s=camera.anomaly.new_normal_after_s,
            )
        )
    return CameraRules(camera.id, tuple(rules), frame_interval_s=1.0 / camera.detect_fps)


def rule_spec(
    rule: RuleConfig,
    model_name: str,
    zones: dict[str, Zone],
    lines: dict[str, Line],
    max_lost_s: float,
) -> RuleSpec:
    kind = RuleType(rule.type)
    return RuleSpec(
        name=rule.name,
        type=kind,
        model_name=model_name,
        labels=frozenset(rule.labels),
        zones=tuple(zones[name] for name in rule.zones),
        exclude_zones=tuple(zones[name] for name in rule.exclude_zones),
        min_score=rule.min_score,
        min_box_area=rule.min_box_area,
        max_box_area=rule.max_box_area,
        # Duration rules judge time themselves; their event starts on the frame the time is reached.
        min_frames=rule.min_frames if kind is RuleType.PRESENCE else 1,
        timing=timing(rule),
        line=lines[rule.line] if rule.line is not None else None,
        direction=CrossingDirection(rule.direction),
        min_s=rule.min_s or 0.0,
        min_count=rule.min_count or 1,
        max_lost_s=max_lost_s,
    )


def tracker_specs(cameras: Sequence[CameraConfig]) -> dict[str, TrackerSpec]:
    return {camera.id: TrackerSpec(max_lost_s=camera.tracker.max_lost_s) for camera in cameras}


def rule_specs(cameras: Sequence[CameraConfig]) -> tuple[CameraRules, ...]:
    return tuple(camera_rules(camera) for camera in cameras)
