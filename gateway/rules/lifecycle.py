"""The event state machine of one rule on one camera: dwell, start, update, end, cooldown.

::

    IDLE ──(min_frames consecutive matches, cooldown over)──► ACTIVE ──(no match for end_after_s,
      ▲                                                         │      or open for max_event_s)
      └────────────────(cooldown_s after the end)──── COOLDOWN ◄┘

Time is the frames' capture time (``captured_at``), never the wall clock, so every transition can be
driven from a table. ``observe`` takes one evaluated frame; ``tick`` lets time pass without frames
(motion gating stops inference on a static scene, and an event must still end).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.config import EventTiming
from gateway.domain import AlertEvent, AlertKind, Box, ModelRef


class EventState(str, enum.Enum):
    IDLE = "idle"
    ACTIVE = "active"
    COOLDOWN = "cooldown"


_ALLOWED = {
    EventState.IDLE: {EventState.ACTIVE},
    EventState.ACTIVE: {EventState.COOLDOWN},
    EventState.COOLDOWN: {EventState.IDLE},
}


class IllegalTransitionError(RuntimeError):
    """A bug: the tracker tried a move its diagram does not have."""


@dataclass(frozen=True, slots=True)
class Match:
    """The best detection that satisfied a rule on one frame."""

    label: str
    score: float
    zone: str | None
    box: Box | None
    model: ModelRef


class EventTracker:
    """One (camera, rule): consumes per-frame matches, returns the AlertEvents they cause."""

    def __init__(self, camera_id: str, rule: str, timing: EventTiming, min_frames: int) -> None:
        self.camera_id = camera_id
        self.rule = rule
        self._timing = timing
        self._min_frames = min_frames
        self.state = EventState.IDLE
        self._streak = 0
        self._event_id = ""
        self._started_at = 0.0
        self._last_match_at = 0.0
        self._last_sent_at = 0.0
        self._ended_at = 0.0
        self._best: Match | None = None
        self._best_sent_score = 0.0
        self._zones_sent: set[str | None] = set()

    def _move(self, target: EventState) -> None:
        if target not in _ALLOWED[self.state]:
            raise IllegalTransitionError(
                f"{self.camera_id}/{self.rule}: {self.state.value} -> {target.value}"
            )
        self.state = target

    def observe(self, frame_ts: float, match: Match | None) -> list[AlertEvent]:
        """One evaluated frame at ``frame_ts``; ``match`` is None when the rule does not hold on it."""
        events = self._advance(frame_ts, holding=match is not None)
        self._streak = self._streak + 1 if match is not None else 0
        if match is None:
            return events
        if self.state is EventState.IDLE and self._streak >= self._min_frames:
            events.append(self._start(frame_ts, match))
        elif self.state is EventState.ACTIVE:
            update = self._continue(frame_ts, match)
            if update is not None:
                events.append(update)
        return events

    def tick(self, now: float) -> list[AlertEvent]:
        """Apply the time-driven transitions (end, cooldown over) due at ``now`` with no new frame."""
        return self._advance(now, holding=False)

    def _advance(self, now: float, *, holding: bool) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        lapsed = not holding and now - self._last_match_at >= self._timing.end_after_s
        if self.state is EventState.ACTIVE and (lapsed or now - self._started_at >= self._timing.max_event_s):
            events.append(self._end(now))
        if self.state is EventState.COOLDOWN and now - self._ended_at >= self._timing.cooldown_s:
            self._move(EventState.IDLE)
        return events

    def _start(self, frame_ts: float, match: Match) -> AlertEvent:
        self._move(EventState.ACTIVE)
        # Capture time in ms is unique per (camera, rule): one event at a time, frames are ordered.
        self._event_id = f"{self.camera_id}:{self.rule}:{round(frame_ts * 1000)}"
        self._started_at = self._last_match_at = self._last_sent_at = frame_ts
        self._best = match
        self._best_sent_score = match.score
        self._zones_sent = {match.zone}
        return self._event(AlertKind.START, frame_ts, match)

    def _continue(self, frame_ts: float, match: Match) -> AlertEvent | None:
        self._last_match_at = frame_ts
        if self._best is None or match.score > self._best.score:
            self._best = match
        better = match.score > self._best_sent_score
        new_zone = match.zone not in self._zones_sent
        if not (better or new_zone) or frame_ts - self._last_sent_at < self._timing.update_interval_s:
            return None
        self._last_sent_at = frame_ts
        self._best_sent_score = max(self._best_sent_score, match.score)
        self._zones_sent.add(match.zone)
        return self._event(AlertKind.UPDATE, frame_ts, match)

    def _end(self, now: float) -> AlertEvent:
        best = self._best
        if best is None:
            raise IllegalTransitionError(f"{self.camera_id}/{self.rule}: active without a match")
        self._move(EventState.COOLDOWN)
        self._ended_at = now
        self._best = None
        # The end carries the event's best observation, at the time the end was decided.
        return self._event(AlertKind.END, now, best)

    def _event(self, kind: AlertKind, frame_ts: float, match: Match) -> AlertEvent:
        return AlertEvent(
            event_id=self._event_id,
            kind=kind,
            camera_id=self.camera_id,
            rule=self.rule,
            label=match.label,
            score=match.score,
            zone=match.zone,
            box=match.box,
            frame_ts=frame_ts,
            model=match.model,
        )
