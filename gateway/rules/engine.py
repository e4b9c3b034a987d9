"""RuleEngine: per camera, turns FrameResults into AlertEvents (start / update / end).

Pure: no I/O, no clock. Each (camera, rule) has one EventTracker; a camera's anomaly config is one
more rule named ``anomaly`` that holds on frames whose anomaly map has cells at or above the model's
threshold, outside what became the new normal (``rules/anomaly.py``: location, new normal, scene
changes). A rule only judges results of its own model, so a detector's results never break the
anomaly rule's dwell streak and vice versa.

Thread-safe: a lock per camera, since results of different cameras arrive on different workers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.config import CameraConfig, EventTiming, GatewayConfig, parse_model_reference
from gateway.domain import AlertEvent, Detection, FrameResult, SceneChange
from gateway.rules.anomaly import ANOMALY, SceneAnomaly, SceneAnomalySpec
from gateway.rules.lifecycle import EventTracker, Match
from gateway.rules.zones import Zone

__all__ = ["ANOMALY", "RuleEngine", "RuleSpec"]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule's predicate: which detections of which model hold it."""

    name: str
    model_name: str
    labels: frozenset[str]
    """Empty: any label."""
    zones: tuple[Zone, ...]
    """Empty: the whole frame (zone None)."""
    min_score: float
    frame_level: bool
    """True for anomaly rules: box-less detections; False for detector rules: boxed ones."""

    def match(self, result: FrameResult) -> Match | None:
        best: Match | None = None
        for detection in result.detections:
            matches, zone = self._zone_of(detection)
            if not matches or (best is not None and detection.score <= best.score):
                continue
            best = Match(detection.label, detection.score, zone, detection.box, result.model)
        return best

    def _zone_of(self, detection: Detection) -> tuple[bool, str | None]:
        """(whether the detection holds the rule, the zone it is in or None for the whole frame)."""
        if (self.labels and detection.label not in self.labels) or detection.score < self.min_score:
            return False, None
        if self.frame_level or detection.box is None:
            return self.frame_level and detection.box is None, None
        if not self.zones:
            return True, None
        for zone in self.zones:
            if zone.contains_box(detection.box):
                return True, zone.name
        return False, None


class _CameraRules:
    def __init__(self, camera: CameraConfig) -> None:
        self.lock = threading.Lock()
        zones = {zone.name: Zone.from_config(zone) for zone in camera.zones}
        self.rules: list[tuple[RuleSpec, EventTracker]] = []
        self.anomaly: SceneAnomaly | None = None
        if camera.model is not None:
            detector, _ = parse_model_reference(camera.model)
            for rule in camera.rules:
                spec = RuleSpec(
                    name=rule.name,
                    model_name=detector,
                    labels=frozenset(rule.labels),
                    zones=tuple(zones[name] for name in rule.zones),
                    min_score=rule.min_score,
                    frame_level=False,
                )
                self.rules.append((spec, EventTracker(camera.id, rule.name, rule, rule.min_frames)))
        if camera.anomaly is not None:
            anomaly_model, _ = parse_model_reference(camera.anomaly.model)
            spec = RuleSpec(ANOMALY, anomaly_model, frozenset({ANOMALY}), (), 0.0, frame_level=True)
            timing: EventTiming = camera.anomaly
            self.rules.append((spec, EventTracker(camera.id, ANOMALY, timing, camera.anomaly.min_frames)))
            scene = SceneAnomalySpec(camera.anomaly.new_normal_after_s, camera.anomaly.end_after_s)
            self.anomaly = SceneAnomaly(camera.id, scene)

    def match(self, spec: RuleSpec, result: FrameResult) -> tuple[Match | None, list[AlertEvent]]:
        """The rule's match on ``result``; the anomaly rule's own logic lives in rules/anomaly.py."""
        if not spec.frame_level or self.anomaly is None:
            return spec.match(result), []
        finding, events = self.anomaly.judge(result)
        if finding is None:
            return None, events
        return Match(ANOMALY, finding.score, None, finding.box, result.model), events


class RuleEngine:
    def __init__(self, cameras: Sequence[CameraConfig]) -> None:
        self._cameras = {camera.id: _CameraRules(camera) for camera in cameras}

    @classmethod
    def from_config(cls, config: GatewayConfig) -> RuleEngine:
        return cls(config.cameras)

    def process(self, result: FrameResult) -> list[AlertEvent]:
        """Judge one frame's result; time is its ``captured_at``. Unknown cameras yield nothing."""
        camera = self._cameras.get(result.camera_id)
        if camera is None:
            return []
        events: list[AlertEvent] = []
        with camera.lock:
            for spec, tracker in camera.rules:
                if spec.model_name == result.model.name:
                    match, changes = camera.match(spec, result)
                    events += changes
                    events += tracker.observe(result.captured_at, match)
        return events

    def scene_changes(self) -> list[SceneChange]:
        """Cameras whose scene departed from the learned one for good (a re-enroll is due)."""
        changes = []
        for camera in self._cameras.values():
            with camera.lock:
                change = camera.anomaly.change() if camera.anomaly is not None else None
            if change is not None:
                changes.append(change)
        return changes

    def tick(self, now: float, camera_ids: Iterable[str] | None = None) -> list[AlertEvent]:
        """Let time pass without frames (``now`` in the cameras' capture clock): ends events that
        stopped holding. The pipeline calls it periodically because motion gating may stop results."""
        events: list[AlertEvent] = []
        for camera_id in self._cameras if camera_ids is None else camera_ids:
            camera = self._cameras.get(camera_id)
            if camera is None:
                continue
            with camera.lock:
                for _, tracker in camera.rules:
                    events += tracker.tick(now)
        return events
