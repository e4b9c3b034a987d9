"""A camera's section: its source, motion gating, zones, lines, tracker, rules and scene anomaly."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from gateway.config.camera_url import url_problem
from gateway.config.fields import (
    DAY_S,
    Delay,
    Fraction,
    Identifier,
    Integer,
    Interval,
    ModelReferenceField,
    Number,
    Point,
    Section,
    Timeout,
)
from gateway.config.motion_mask import leaves_frame_uncovered
from gateway.config.zones import MAX_ZONE_VERTICES, LineConfig, ZoneConfig, polygon_problem
from gateway.suggestions import closest


class ConfigPathError(ValueError):
    """A problem found by a validator about a key below the one it validates: ``path`` (relative to
    the validated model) lets the loader point at that key's own line in the file."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        super().__init__(message)


MAX_MOTION_MASKS = 64
"""Most outlines a camera's motion mask may have (a clock, a tree and a road are three)."""
MaskPolygon = Annotated[list[Point], Field(min_length=3, max_length=MAX_ZONE_VERTICES)]


class MotionConfig(Section):
    enabled: bool = Field(True, description="Skip inference on static scenes.")
    width: Integer = Field(160, ge=16, description="Width of the grey frame motion is computed on.")
    threshold: Integer = Field(25, ge=1, le=255, description="Per-pixel difference that counts as change.")
    min_area: Fraction = Field(0.002, description="Changed share of the frame that counts as motion.")
    hold_s: Delay = Field(
        2.0,
        description="Inference continues this long after motion ends (and, at a lower rate, while an "
        "object a rule follows, or an anomaly, is in view).",
    )
    mask: list[MaskPolygon] = Field(
        default_factory=list,
        max_length=MAX_MOTION_MASKS,
        description="Outlines (normalised (x, y) vertices) where change is never motion: an on-screen "
        "clock, a swaying tree, a road past the fence. The model and the rules still see the whole frame.",
    )

    @field_validator("mask", mode="before")
    @classmethod
    def _outlines_not_points(cls, value: object) -> object:
        # One outline written without the list around it reads as outlines of two numbers each,
        # and pydantic named every number "not a list".
        if isinstance(value, list) and value and all(_is_point(item) for item in value):
            raise ValueError(
                "takes a list of outlines, and this is one outline's points: write it inside a list, "
                f"[{_flow_list(value)}]"
            )
        return value

    @model_validator(mode="after")
    def _mask_leaves_the_frame(self) -> MotionConfig:
        for index, polygon in enumerate(self.mask):
            problem = polygon_problem(tuple(polygon))
            if problem is not None:
                raise ConfigPathError(("mask", index), f"mask outline {problem}")
        # A mask over the whole frame would let the model see the first frame and no other.
        if self.enabled and self.mask and not leaves_frame_uncovered(self.mask):
            raise ConfigPathError(
                ("mask",),
                "covers the whole frame, so no change could ever be motion; leave part of the frame "
                "unmasked, or set enabled: false to run the model on every sampled frame",
            )
        return self


def _is_point(item: object) -> bool:
    return (
        isinstance(item, list)
        and len(item) == 2
        and all(isinstance(number, int | float) and not isinstance(number, bool) for number in item)
    )


def _flow_list(points: list[list[float]]) -> str:
    return "[" + ", ".join(f"[{x!r}, {y!r}]" for x, y in points) + "]"


MAX_ZONES = 256
"""Most zones a camera may have (a busy site has some 50 on one camera)."""
MAX_LINES = 256
"""Most counting lines a camera may have."""
MAX_RULES = 256
"""Most rules a camera may have: one thread judges every camera's rules on every frame, and each rule
costs some 2.5 us per track in view (200 rules and 20 tracks: 7 to 10 ms a frame, that camera alone)."""
MAX_LABELS = 256
"""Most labels (or zones) a rule may name: more than any detector's classes."""
MAX_LABEL_LENGTH = 256
"""Longest label a rule may name."""
MAX_URL_LENGTH = 4096
"""Longest camera URL or GStreamer pipeline: it is shown in logs, the console and /v1/cameras."""


class TrackerConfig(Section):
    max_lost_s: Timeout = Field(
        1.0, description="A track is kept through misses shorter than this; its id is never reused."
    )


class EventTiming(Section):
    cooldown_s: Delay = Field(30.0, description="Quiet time after an event ends before a new start.")
    update_interval_s: Delay = Field(10.0, description="At most one update per interval.")
    end_after_s: Delay = Field(5.0, description="An event ends after the rule stops holding this long.")
    max_event_s: Interval = Field(300.0, description="An event ends after this long regardless.")


RuleType = Literal["presence", "line_crossing", "loiter", "count", "stationary"]
DURATION_RULES = ("loiter", "count", "stationary")

ANOMALY_RULE = "anomaly"
"""The rule (and label) name of a camera's scene-anomaly alerts: no rule of its own may take it."""


class RuleConfig(EventTiming):
    name: Identifier
    type: RuleType = Field("presence", description="What the rule follows (DESIGN.md, rules and tracks).")
    labels: list[Annotated[str, Field(max_length=MAX_LABEL_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_LABELS, description="Labels that match; empty: any."
    )
    zones: list[str] = Field(
        default_factory=list, max_length=MAX_LABELS, description="Zones that match; empty: whole frame."
    )
    exclude_zones: list[str] = Field(
        default_factory=list,
        max_length=MAX_LABELS,
        description="Zones that never match, inside the rule's zones too: a poster, a screen or a statue "
        "the detector takes for a person.",
    )
    line: str | None = Field(None, description="line_crossing: the camera line it counts on.")
    direction: Literal["in", "out", "any"] = Field("any", description="line_crossing: which crossings.")
    min_score: Fraction = 0.5
    min_frames: Integer = Field(3, ge=1, description="presence: consecutive matching frames before a start.")
    min_s: Delay | None = Field(
        None, description="loiter, count, stationary: how long it must hold before a start."
    )
    min_count: Integer | None = Field(None, ge=1, description="count: tracks present at once.")
    min_box_area: Fraction = Field(
        0.0,
        description="A track becomes the rule's object only on a frame its box covers at least this share "
        "of the frame (not a far-off figure, a bird); followed, it stays so.",
    )
    max_box_area: Fraction = Field(
        1.0,
        description="A track becomes the rule's object only on a frame its box covers at most this share "
        "of the frame (not a box over most of the frame when the light changes); followed, it stays so.",
    )

    @model_validator(mode="after")
    def _box_area_band(self) -> RuleConfig:
        if self.min_box_area > self.max_box_area:
            raise ConfigPathError(
                ("max_box_area",),
                f"must be at least min_box_area ({self.min_box_area:g}), got {self.max_box_area:g}: "
                "no box would fit between them",
            )
        return self

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> RuleConfig:
        if self.type == "line_crossing" and self.line is None:
            raise ValueError("a line_crossing rule needs 'line', the name of one of the camera's lines")
        for key in ("zones", "exclude_zones"):
            # A crossing is judged on the line alone: zones written there were silently ignored.
            if self.type == "line_crossing" and getattr(self, key):
                raise ConfigPathError(
                    (key,),
                    f"'{key}' belong to presence, loiter, count and stationary rules: a line_crossing "
                    "rule counts every crossing of its line",
                )
        both = [name for name in self.exclude_zones if name in self.zones]
        if both:
            raise ConfigPathError(
                ("exclude_zones",),
                f"zone {both[0]!r} is in both zones and exclude_zones: a zone either matches or never does",
            )
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


class AnomalyConfig(EventTiming):
    model: ModelReferenceField = Field(
        description="Scene-anomaly model, name or name:version; threshold comes with it."
    )
    min_frames: Integer = Field(3, ge=1, description="Consecutive anomalous frames before an event starts.")
    new_normal_after_s: Interval | None = Field(
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


def _at_least_one_a_day(rate: float) -> float:
    # Said in words: pydantic's own message for the bound read "greater than or equal to
    # 0.000011574074074074073", and 0 is what someone who meant "off" writes.
    if not rate >= 1 / DAY_S:
        raise ValueError(
            f"must be at least one frame a day (1/86400), got {rate:g}; a camera is stopped by enabled: false"
        )
    return rate


class CameraConfig(Section):
    id: Identifier
    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="rtsp://, rtsps://, http(s):// MJPEG, file path or file:// URL. In a network URL, a "
        "character a URL cannot hold is percent-encoded (a space in a password as %20).",
    )
    detect_fps: Annotated[Number, AfterValidator(_at_least_one_a_day)] = Field(
        5.0, description="Frames sampled per second; at least one a day (1/86400)."
    )
    model: ModelReferenceField | None = Field(None, description="Detector, name or name:version.")
    decoder: Literal["ffmpeg", "gstreamer"] = "ffmpeg"
    gstreamer_pipeline: str | None = Field(
        None,
        max_length=MAX_URL_LENGTH,
        description="Full GStreamer pipeline ending in appsink; {url} is replaced by the camera URL.",
    )
    open_timeout_s: Timeout = Field(
        4.0, description="Connect + open bound; also bounds how long stopping a camera can take."
    )
    read_timeout_s: Timeout = Field(
        3.0,
        description="A stream silent this long is reconnected; a live network stream's read gives up "
        "after a third of it, so a slow camera (a timelapse) needs about three frame intervals.",
    )
    max_frame_age_s: Timeout = Field(
        1.0, description="A sampled frame older than this is dropped as stale; also its inference deadline."
    )
    reconnect_min_s: Interval = Field(0.5, description="First wait before reconnecting a failed stream.")
    reconnect_max_s: Interval = Field(
        30.0, description="Longest wait between reconnects (the backoff's cap)."
    )
    enabled: bool = True
    motion: MotionConfig = MotionConfig()
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=MAX_ZONES)
    lines: list[LineConfig] = Field(
        default_factory=list, max_length=MAX_LINES, description="Counting lines for line_crossing."
    )
    tracker: TrackerConfig = TrackerConfig()
    rules: list[RuleConfig] = Field(default_factory=list, max_length=MAX_RULES)
    anomaly: AnomalyConfig | None = None

    @model_validator(mode="after")
    def _readable_url(self) -> CameraConfig:
        # The reader would take any other value for a file path and fail at run time with a
        # misleading "no such video file".
        problem = url_problem(self.url, any_scheme=self.decoder == "gstreamer")
        if problem is not None:
            raise ConfigPathError(("url",), problem)
        return self

    @model_validator(mode="after")
    def _consistent(self) -> CameraConfig:
        zone_names = [zone.name for zone in self.zones]
        _check_unique("zones", "zone", zone_names)
        line_names = [line.name for line in self.lines]
        _check_unique("lines", "line", line_names)
        rule_names = [rule.name for rule in self.rules]
        # A repeated name would make two rules one: the rules' events and metrics are keyed by it.
        _check_unique("rules", "rule", rule_names)
        if self.anomaly is not None and ANOMALY_RULE in rule_names:
            raise ConfigPathError(
                ("rules", rule_names.index(ANOMALY_RULE), "name"),
                f"the rule name {ANOMALY_RULE!r} belongs to the camera's anomaly: section (its alerts "
                f"carry rule {ANOMALY_RULE!r}); give this rule another name",
            )
        known_zones = set(zone_names)
        for index, rule in enumerate(self.rules):
            for key, named in (("zones", rule.zones), ("exclude_zones", rule.exclude_zones)):
                unknown = sorted(set(named) - known_zones)
                if unknown:
                    meant = closest(unknown[0], zone_names) if len(unknown) == 1 else None
                    hint = "" if meant is None else f"did you mean {meant!r}? "
                    raise ConfigPathError(
                        ("rules", index, key),
                        f"rule {rule.name!r} names unknown zones {unknown} "
                        f"({hint}zones: {zone_names or 'none'})",
                    )
            if rule.line is not None and rule.line not in line_names:
                meant = closest(rule.line, line_names)
                hint = "" if meant is None else f"did you mean {meant!r}? "
                raise ConfigPathError(
                    ("rules", index, "line"),
                    f"rule {rule.name!r} names unknown line {rule.line!r} "
                    f"({hint}lines: {line_names or 'none'})",
                )
        if self.rules and self.model is None:
            raise ValueError("rules need a detector: set the camera's model")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.decoder == "gstreamer" and self.gstreamer_pipeline is None:
            raise ValueError("decoder gstreamer needs gstreamer_pipeline")
        return self


def _check_unique(key: str, kind: str, names: list[str]) -> None:
    """ConfigPathError at the second of two items of ``key`` with the same name, naming it: among
    a dozen zones, "must be unique" alone leaves the reader to find which."""
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        earlier = first.setdefault(name, index)
        if earlier != index:
            raise ConfigPathError(
                (key, index, "name"),
                f"{kind} names must be unique within a camera: {name!r} is also the name of {key}[{earlier}]",
            )
