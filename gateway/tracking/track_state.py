"""One track's book-keeping in a camera's tracker (``tracker.py``), tentative or confirmed."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain import Box, Track


@dataclass(slots=True)
class TrackState:
    """Book-keeping of one track; its Kalman filter is the row of the same index in MotionModel."""

    label: str
    track_id: int | None
    """None while tentative."""
    hits: int
    last_seen: float
    missing_since: float | None
    """Capture time of the first frame it was missing on, since it was last observed."""
    box: Box
    score: float
    observed: bool
    first_seen_at: float
    origin: Box
    origin_at: float
    peak_score: float
    hidden: bool = False
    """Went missing behind another object (while it was missing, its last box touched one observed
    on the same frame: see ``passes.mark_hidden``); False while observed."""

    def report(self, track_id: int) -> Track:
        return Track(
            track_id,
            self.label,
            self.score,
            self.box,
            self.observed,
            self.first_seen_at,
            self.origin,
            self.peak_score,
            self.origin_at,
        )
