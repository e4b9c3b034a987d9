"""A camera's section: its source, motion gating, zones, lines, tracker, rules and scene anomaly."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from gateway.config.fields import IDENTIFIER, Fraction, ModelReferenceField, Point, PositiveFloat, Section


class MotionConfig(Section):
    enabled: bool = Field(True, description="Skip inference on static scenes.")
    width: int = Field(160, ge=16, description="Width of the grey frame motion is computed on.")
    threshold: int = Field(25, ge=1, le=255, description="Per-pixel difference that counts as change.")
    min_area: Fraction = Field(0.002, description="Changed share of the frame that counts as motion.")
    hold_s: float = Field(2.0, ge=0, description="Inference continues this long after motion ends.")


class ZoneConfig(Section):
    name: str = Field(pattern=IDENTIFIER)
    polygon: list[Point] = Field(min_length=3, description="Normalised (x, y) vertices.")


MIN_ACROSS = 0.02
"""Least sine of the angle between a line and its in_direction (about 1 degree)."""


class LineConfig(Section):
    name: str = Field(pattern=IDENTIFIER)
    points: tuple[Point, Point] = Field(description="The counting segment's two ends, normalised (x, y).")
    in_direction: tuple[float, float] = Field(
        description="A vector: a track whose move has a positive dot product with it crosses 'in'."
    )

    @model_validator(mode="after")
    def _not_degenerate(self) -> LineConfig:
        (ax, ay), (bx, by) = self.points
        if abs(ax - bx) < 1e-9 and abs(ay - by) < 1e-9:
            raise ValueError("the line's two points must differ")
        if abs(self.in_direction[0]) < 1e-9 and abs(self.in_direction[1]) < 1e-9:
            raise ValueError("in_direction must not be the zero vector")
        # Along the line, 'in' or 'out' would be decided by a crossing track's sideways drift.
        along = (bx - ax, by - ay)
        across = abs(along[0] * self.in_direction[1] - along[1] * self.in_direction[0])
        if across < MIN_ACROSS * math.hypot(*along) * math.hypot(*self.in_direction):
            raise ValueError(
                f"in_direction {list(self.in_direction)} runs along the line from {list(self.points[0])} "
                f"to {list(self.points[1])}; it must point across it, to the side a track enters"
            )
        return self


class TrackerConfig(Section):
    max_lost_s: PositiveFloat = Field(
        1.0, description="A track is kept through misses shorter than this; its id is never reused."
    )


class EventTiming(Section):
    cooldown_s: float = Field(30.0, ge=0, description="Quiet time after an event ends before a new start.")
    update_interval_s: float = Field(10.0, ge=0, description="At most one update per interval.")
    end_after_s: float = Field(5.0, ge=0, description="An event ends after the rule stops holding this long.")
    max_event_s: float = Field(300.0, gt=0, description="An event ends after this long regardless.")


RuleType = Literal["presence", "line_crossing", "loiter", "count", "stationary"]
DURATION_RULES = ("loiter", "count", "stationary")


class RuleConfig(EventTiming):
    name: str = Field(pattern=IDENTIFIER)
    type: RuleType = Field("presence", description="What the rule follows (DESIGN.md, rules and tracks).")
    labels: list[str] = Field(default_factory=list, description="Labels that match; empty: any.")
    zones: list[str] = Field(default_factory=list, description="Zones that match; empty: whole frame.")
    line: str | None = Field(None, description="line_crossing: the camera line it counts on.")
    direction: Literal["in", "out", "any"] = Field("any", description="line_crossing: which crossings.")
    min_score: Fraction = 0.5
    min_frames: int = Field(3, ge=1, description="presence: consecutive matching frames before a start.")
    min_s: float | None = Field(
        None, ge=0, description="loiter, count, stationary: how long it must hold before a start."
    )
    min_count: int | None = Field(None, ge=1, description="count: tracks present at once.")

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> RuleConfig:
        if self.type == "line_crossing" and self.line is None:
            raise ValueError("a line_crossing rule needs 'line', the name of one of the camera's lines")
        if self.type != "line_crossing" and (self.line is not None or self.direction != "any"):
            raise ValueError(f"'line' and 'direction' belong to line_crossing rules, not {self.type}")
        if self.type in ("loiter", "stationary") and self.min_s is None:
            raise ValueError(f"a {self.type} rule needs min_s")
        if self.type not in DURATION_RULES and self.min_s is not None:
            raise ValueError(f"'min_s' belongs to loiter, count and stationary rules, not {self.type}")
        if self.type == "count" and self.min_count is None:
            raise ValueError("a count rule needs min_count")
        if self.type != "count" and self.min_count is not None:
            raise ValueError(f"'min_count' belongs to count rules, not {self.type}")
        return self


class ConfigPathError(ValueError):
    """A problem found by a validator about a key below the one it validates: ``path`` (relative to
    the validated model) lets the loader point at that key's own line in the file."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        super().__init__(message)


class AnomalyConfig(EventTiming):
    model: ModelReferenceField = Field(
        description="Scene-anomaly model, name or name:version; threshold comes with it."
    )
    min_frames: int = Field(3, ge=1, description="Consecutive anomalous frames before an event starts.")
    new_normal_after_s: PositiveFloat | None = Field(
        120.0,
        description="A change anomalous this long without a break (a parked car) becomes the new normal: "
        "one scene_change alert, a re-enroll suggestion in /v1/status, no further alerts from its cells; "
        "null: never.",
    )

    @model_validator(mode="after")
    def _new_normal_before_the_event_ends(self) -> AnomalyConfig:
        if self.new_normal_after_s is not None and self.new_normal_after_s >= self.max_event_s:
            raise ValueError(
                f"new_normal_after_s ({self.new_normal_after_s:g}) must be shorter than max_event_s "
                f"({self.max_event_s:g}), or a lasting change would end and restart its event first"
            )
        return self


class CameraConfig(Section):
    id: str = Field(pattern=IDENTIFIER)
    url: str = Field(description="rtsp://, rtsps://, http(s):// MJPEG, file path or file:// URL.")
    detect_fps: PositiveFloat = 5.0
    model: ModelReferenceField | None = Field(None, description="Detector, name or name:version.")
    decoder: Literal["ffmpeg", "gstreamer"] = "ffmpeg"
    gstreamer_pipeline: str | None = Field(
        None, description="Full GStreamer pipeline ending in appsink; {url} is replaced by the camera URL."
    )
    open_timeout_s: PositiveFloat = Field(
        4.0, description="Connect + open bound; also bounds how long stopping a camera can take."
    )
    read_timeout_s: PositiveFloat = 3.0
    max_frame_age_s: PositiveFloat = Field(
        1.0, description="A sampled frame older than this is dropped as stale; also its inference deadline."
    )
    reconnect_min_s: PositiveFloat = 0.5
    reconnect_max_s: PositiveFloat = 30.0
    enabled: bool = True
    motion: MotionConfig = MotionConfig()
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list, description="Counting lines for line_crossing.")
    tracker: TrackerConfig = TrackerConfig()
    rules: list[RuleConfig] = Field(default_factory=list)
    anomaly: AnomalyConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CameraConfig:
        zone_names = [zone.name for zone in self.zones]
        if len(set(zone_names)) != len(zone_names):
            raise ValueError("zone names must be unique within a camera")
        line_names = [line.name for line in self.lines]
        if len(set(line_names)) != len(line_names):
            raise ValueError("line names must be unique within a camera")
        rule_names = [rule.name for rule in self.rules]
        if len(set(rule_names)) != len(rule_names):
            raise ValueError("rule names must be unique within a camera")
        for index, rule in enumerate(self.rules):
            unknown = sorted(set(rule.zones) - set(zone_names))
            if unknown:
                raise ConfigPathError(
                    ("rules", index, "zones"), f"rule {rule.name!r} names unknown zones {unknown}"
                )
            if rule.line is not None and rule.line not in line_names:
                raise ConfigPathError(
                    ("rules", index, "line"),
                    f"rule {rule.name!r} names unknown line {rule.line!r} (lines: {line_names or 'none'})",
                )
        if self.rules and self.model is None:
            raise ValueError("rules need a detector: set the camera's model")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.decoder == "gstreamer" and self.gstreamer_pipeline is None:
            raise ValueError("decoder gstreamer needs gstreamer_pipeline")
        return self
