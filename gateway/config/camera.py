"""A camera's section: its source, motion gating, zones, lines, tracker, rules and scene anomaly."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import (
    Field,
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


MAX_ZONE_VERTICES = 100
"""Most vertices a zone may have: the self-crossing check compares every pair of edges."""
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
MIN_ZONE_AREA = 1e-6
"""Least area of a zone, as a share of the frame (about two pixels of a 1080p frame)."""
SAME_POINT = 1e-6
"""Normalised distance under which consecutive vertices are one, a repeat (a 250th of a pixel at 4K)."""
ON_EDGE = SAME_POINT / 2
"""Normalised distance under which a vertex touches an edge: a vertex placed on an edge is a few float
roundings off it, and an exact test would take it for touching or not as those fell. Half of SAME_POINT,
so a short edge kept as no repeat is never taken for touching the edge before it unless it turns back."""


class ZoneConfig(Section):
    name: Identifier
    polygon: list[Point] = Field(
        min_length=3,
        max_length=MAX_ZONE_VERTICES,
        description="Normalised (x, y) vertices; the outline must enclose an area and not cross itself.",
    )

    @model_validator(mode="after")
    def _encloses_an_area(self) -> ZoneConfig:
        # A degenerate zone would be accepted and then never contain a track's position.
        problem = _polygon_problem(tuple(self.polygon))
        if problem is not None:
            raise ValueError(f"zone {self.name!r} {problem}")
        return self


def _cross(origin: Point, first: Point, second: Point) -> float:
    return (first[0] - origin[0]) * (second[1] - origin[1]) - (first[1] - origin[1]) * (second[0] - origin[0])


def _side(start: Point, end: Point, point: Point) -> int:
    """1 or -1: the side of the line through ``start`` and ``end`` (more than SAME_POINT apart) that
    ``point`` lies on; 0: on the line, within ON_EDGE."""
    distance = _cross(start, end, point) / math.dist(start, end)
    if abs(distance) <= ON_EDGE:
        return 0
    return 1 if distance > 0 else -1


def _within(start: Point, end: Point, point: Point) -> bool:
    """Whether ``point``, known to be on the line through ``start`` and ``end``, lies on the segment."""
    return all(
        min(start[axis], end[axis]) - ON_EDGE <= point[axis] <= max(start[axis], end[axis]) + ON_EDGE
        for axis in (0, 1)
    )


def _segments_meet(first: tuple[Point, Point], second: tuple[Point, Point]) -> bool:
    (a, b), (c, d) = first, second
    side_c, side_d = _side(a, b, c), _side(a, b, d)
    side_a, side_b = _side(c, d, a), _side(c, d, b)
    if side_c * side_d < 0 and side_a * side_b < 0:
        return True
    return (
        (side_c == 0 and _within(a, b, c))
        or (side_d == 0 and _within(a, b, d))
        or (side_a == 0 and _within(c, d, a))
        or (side_b == 0 and _within(c, d, b))
    )


def _twice_area(outline: list[Point]) -> float:
    """Twice the signed area of ``outline`` (the shoelace formula)."""
    return sum(
        outline[index - 1][0] * point[1] - point[0] * outline[index - 1][1]
        for index, point in enumerate(outline)
    )


def _hull_area(points: list[Point]) -> float:
    """The area of the convex hull of ``points`` (Andrew's monotone chain): no outline through them
    encloses more, whatever their order."""
    ordered = sorted(set(points))

    def half(chain_points: list[Point]) -> list[Point]:
        chain: list[Point] = []
        for point in chain_points:
            while len(chain) >= 2 and _cross(chain[-2], chain[-1], point) <= 0:
                chain.pop()
            chain.append(point)
        return chain[:-1]

    return abs(_twice_area(half(ordered) + half(ordered[::-1]))) / 2


def _without_repeats(polygon: tuple[Point, ...]) -> list[Point]:
    """The vertices of ``polygon`` less each one within SAME_POINT of the one kept before it, the
    outline being closed (a double click, or the first point repeated at the end)."""
    vertices: list[Point] = []
    for point in polygon:
        if not vertices or math.dist(point, vertices[-1]) > SAME_POINT:
            vertices.append(point)
    while len(vertices) > 1 and math.dist(vertices[-1], vertices[0]) <= SAME_POINT:
        vertices.pop()
    return vertices


def _format_point(point: Point) -> str:
    # Short where that is exact; in full where it is not, or two distinct points would print alike.
    return (
        "["
        + ", ".join(f"{value:g}" if float(f"{value:g}") == value else repr(value) for value in point)
        + "]"
    )


@lru_cache(maxsize=256)
def _polygon_problem(polygon: tuple[Point, ...]) -> str | None:
    """What makes ``polygon`` unable to contain anything, or None; the verdict does not depend on
    which vertex comes first. Cached: one zone reused through a YAML alias is checked once."""
    vertices = _without_repeats(polygon)
    # Asked of the hull, which no vertex order changes (asked of the first edge, a short one made any
    # outline look flat): points on one line would otherwise be reported as crossing themselves.
    if len(vertices) < 3 or _hull_area(vertices) < MIN_ZONE_AREA:
        return "has no area: its points repeat or lie on one line"
    edges = [(vertices[index - 1], point) for index, point in enumerate(vertices)]
    # Two edges meet only where their bounds, widened by ON_EDGE, overlap: most pairs of a large
    # outline are apart, and skipping them made a 100-point zone's check ten times faster (5 to 0.5 ms).
    bounds = [
        (
            min(a[0], b[0]) - ON_EDGE,
            min(a[1], b[1]) - ON_EDGE,
            max(a[0], b[0]) + ON_EDGE,
            max(a[1], b[1]) + ON_EDGE,
        )
        for a, b in edges
    ]
    for first in range(len(edges)):
        left, top, right, bottom = bounds[first]
        # Edges next to each other share a vertex; the last edge is next to the first.
        for second in range(first + 2, len(edges) - (1 if first == 0 else 0)):
            other_left, other_top, other_right, other_bottom = bounds[second]
            if other_left > right or other_right < left or other_top > bottom or other_bottom < top:
                continue
            if _segments_meet(edges[first], edges[second]):
                (a, b), (c, d) = edges[first], edges[second]
                return (
                    f"crosses itself: the edge {_format_point(a)}-{_format_point(b)} meets the edge "
                    f"{_format_point(c)}-{_format_point(d)}; list the points in order around the outline"
                )
    # Checked after crossings: the two halves of a bowtie cancel out to no area.
    if abs(_twice_area(vertices)) / 2 < MIN_ZONE_AREA:
        return "has no area: its points repeat or lie on one line"
    return None


MIN_ACROSS = 0.02
"""Least sine of the angle between a line and its in_direction (about 1 degree)."""


class LineConfig(Section):
    name: Identifier
    points: tuple[Point, Point] = Field(description="The counting segment's two ends, normalised (x, y).")
    in_direction: tuple[Number, Number] = Field(
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
    line: str | None = Field(None, description="line_crossing: the camera line it counts on.")
    direction: Literal["in", "out", "any"] = Field("any", description="line_crossing: which crossings.")
    min_score: Fraction = 0.5
    min_frames: Integer = Field(3, ge=1, description="presence: consecutive matching frames before a start.")
    min_s: Delay | None = Field(
        None, description="loiter, count, stationary: how long it must hold before a start."
    )
    min_count: Integer | None = Field(None, ge=1, description="count: tracks present at once.")

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


class CameraConfig(Section):
    id: Identifier
    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="rtsp://, rtsps://, http(s):// MJPEG, file path or file:// URL. In a network URL, a "
        "character a URL cannot hold is percent-encoded (a space in a password as %20).",
    )
    detect_fps: Number = Field(
        5.0, ge=1 / DAY_S, description="Frames sampled per second; at least one a day (1/86400)."
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
        if len(set(rule_names)) != len(rule_names):
            raise ValueError("rule names must be unique within a camera")
        if self.anomaly is not None and ANOMALY_RULE in rule_names:
            raise ConfigPathError(
                ("rules", rule_names.index(ANOMALY_RULE), "name"),
                f"the rule name {ANOMALY_RULE!r} belongs to the camera's anomaly: section (its alerts "
                f"carry rule {ANOMALY_RULE!r}); give this rule another name",
            )
        known_zones = set(zone_names)
        for index, rule in enumerate(self.rules):
            unknown = sorted(set(rule.zones) - known_zones)
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
