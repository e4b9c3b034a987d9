"""What the rules are told: plain, frozen specs built from config by the wiring (``gateway.pipeline``).

The rules never see the config models, so they can be read, tested and replaced alone; a spec says
everything a rule needs and nothing about where it came from.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

from gateway.rules.geometry import Line, Zone


class RuleType(str, enum.Enum):
    PRESENCE = "presence"
    LINE_CROSSING = "line_crossing"
    LOITER = "loiter"
    COUNT = "count"
    STATIONARY = "stationary"
    ANOMALY = "anomaly"
    """Frame level: the camera's learned scene-anomaly model, not a detector."""


class CrossingDirection(str, enum.Enum):
    IN = "in"
    OUT = "out"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class EventTiming:
    cooldown_s: float = 30.0
    """Quiet time after an event ends before the same rule (and track) may start another."""
    update_interval_s: float = 10.0
    """At most one update per interval."""
    end_after_s: float = 5.0
    """An event ends after the rule stops holding this long."""
    max_event_s: float = 300.0
    """An event ends after this long regardless."""


@dataclass(frozen=True, slots=True)
class RuleSpec:
    name: str
    type: RuleType
    model_name: str
    """The model whose results the rule judges (the camera's detector, or its anomaly model)."""
    labels: frozenset[str] = frozenset()
    """Empty: any label."""
    zones: tuple[Zone, ...] = ()
    """Empty: the whole frame (zone None)."""
    min_score: float = 0.5
    min_frames: int = 3
    """Consecutive matching frames before an event starts (presence, anomaly)."""
    timing: EventTiming = EventTiming()
    line: Line | None = None
    """line_crossing: the segment and its ``in`` side."""
    direction: CrossingDirection = CrossingDirection.ANY
    min_s: float = 0.0
    """loiter, count, stationary: how long the condition must hold before the event starts."""
    min_count: int = 1
    """count: tracks present at once."""
    max_lost_s: float = 1.0
    """The camera tracker's ``max_lost_s`` (``TrackerSpec``'s default): loiter forgives a stay that
    has not yet lasted ``min_s`` a time outside the zones this long, as the tracker forgives a miss."""
    new_normal_after_s: float | None = None
    """anomaly: cells anomalous this long without a break become the new normal (``anomaly.py``);
    None: never."""
    min_box_area: float = 0.0
    max_box_area: float = 1.0
    """A track qualifies (``judge.TrackJudge.follows``) only on a frame its box's share of the frame
    lies within these."""
    exclude_zones: tuple[Zone, ...] = ()
    """An object whose position lies in one of these is outside the rule's zones, wherever it is."""

    @property
    def tracked(self) -> bool:
        """Judged on tracks (one event per track, or counts of tracks) rather than per frame."""
        return self.type is not RuleType.ANOMALY

    def __post_init__(self) -> None:
        if self.type is RuleType.LINE_CROSSING and self.line is None:
            raise ValueError(f"rule {self.name!r}: line_crossing needs a line")
        if self.min_frames < 1 or self.min_count < 1 or self.min_s < 0 or self.max_lost_s < 0:
            raise ValueError(f"rule {self.name!r}: min_frames and min_count >= 1, min_s and max_lost_s >= 0")

    def survives_as(self, other: RuleSpec) -> bool:
        """Whether open events of this rule may continue under ``other`` after a reload: same name,
        type and model. Changed zones, labels or timing apply to the open event from then on."""
        return (self.name, self.type, self.model_name) == (other.name, other.type, other.model_name)


@dataclass(frozen=True, slots=True)
class CameraRules:
    camera_id: str
    rules: tuple[RuleSpec, ...] = ()
    frame_interval_s: float = 0.0
    """The time between two of the camera's sampled frames (``1 / detect_fps``): the decider's ticks
    leave the camera's rules that far behind, so an event an object renews on every frame does not
    end between two of them."""

    def __post_init__(self) -> None:
        counts = Counter(rule.name for rule in self.rules)
        repeated = [repr(name) for name, count in counts.items() if count > 1]
        if repeated:
            # Events are keyed by rule name: a second rule of a name would end or continue the first's.
            noun = "rule name" if len(repeated) == 1 else "rule names"
            verb = "is" if len(repeated) == 1 else "are"
            raise ValueError(
                f"camera {self.camera_id!r}: {noun} {', '.join(repeated)} {verb} repeated; rule names "
                "must be unique"
            )
