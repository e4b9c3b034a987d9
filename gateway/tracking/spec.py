"""What a camera's tracker does: its knobs, checked once (``gateway/tracking/tracker.py`` uses them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class TrackerSpec:
    """What a camera's tracker does; ``gateway.pipeline`` builds it from the camera's ``tracker:``."""

    max_lost_s: float = 1.0
    """A track missing for longer than this (capture time since the first frame it was missing
    on) ends; shorter misses are forgiven."""
    high_score: float = 0.4
    """Detections at or above this take part in the first pass and may start tracks (ByteTrack has
    0.5 for YOLOX; 0.4 had the fewest misses + false positives with face-detector on the tuning
    clips of bench/tracking.py, whose moving faces often score 0.4..0.55)."""
    low_score: float = 0.1
    """Detections below this are never tracked; between it and ``high_score`` they only keep
    tracks that were observed on the previous frame."""
    new_track_score: float = 0.4
    """A detection left unmatched needs this score to start a tentative track."""
    match_iou: float = 0.2
    """Least IoU between a track's predicted box and a high-score detection to continue it."""
    low_match_iou: float = 0.5
    """Least IoU for a low-score detection (stricter: these are where false positives hide)."""
    duplicate_iou: float = 0.8
    """Least IoU with a box a track took on the same frame, of any label, for a detection to be the
    detector's duplicate of that object (one box per label), which starts no track. High, so that
    distinct objects overlapping (a rider on a bicycle) still start their own."""
    confirm_iou: float = 0.3
    """Least IoU for a tentative track to take a detection."""
    confirm_hits: int = 2
    """Frames in a row a tentative track must be matched on before it is confirmed and numbered."""
    max_speed: float = 3.0
    """The fastest an object is expected to move, box heights per second. Where the motion model
    cannot be trusted (a tentative track's velocity is a guess; a confirmed track may have turned or
    stopped), a second try widens the track's and the detections' boxes by this times the time
    since the track was last seen before taking their IoU (C-BIoU's buffered IoU): a fast object at
    a low frame rate, whose boxes on two frames do not overlap, is still followed."""
    acceleration: float = 2.0
    """Motion model: unmodelled acceleration, box heights per second squared (walking, stopping)."""
    measurement_noise: float = 0.05
    """Motion model: detector box jitter, box heights."""
    initial_velocity: float = 2.0
    """Motion model: spread of a new track's unknown velocity, box heights per second."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not math.isfinite(value):
                raise ValueError(f"tracker {field.name} must be a finite number, got {value!r}")
        for name in (
            "high_score",
            "low_score",
            "new_track_score",
            "match_iou",
            "low_match_iou",
            "duplicate_iou",
            "confirm_iou",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"tracker {name} must be within 0..1, got {value}")
        for name in ("match_iou", "low_match_iou", "duplicate_iou", "confirm_iou"):
            if getattr(self, name) <= 0.0:
                raise ValueError(f"tracker {name} must be above 0 (IoU 0 would pair unrelated boxes)")
        if self.max_lost_s < 0.0:
            raise ValueError(f"tracker max_lost_s must be at least 0, got {self.max_lost_s}")
        if self.low_score > self.high_score:
            raise ValueError(
                f"tracker low_score ({self.low_score}) must not be above high_score ({self.high_score})"
            )
        if self.new_track_score < self.high_score:
            raise ValueError(
                f"tracker new_track_score ({self.new_track_score}) must not be below high_score "
                f"({self.high_score}): only high-score detections are left to start tracks"
            )
        if (
            isinstance(self.confirm_hits, bool)
            or not isinstance(self.confirm_hits, int)
            or self.confirm_hits < 1
        ):
            raise ValueError(f"tracker confirm_hits must be a positive integer, got {self.confirm_hits!r}")
        for name in ("acceleration", "measurement_noise", "initial_velocity", "max_speed"):
            if getattr(self, name) <= 0.0:
                raise ValueError(f"tracker {name} must be above 0, got {getattr(self, name)}")
