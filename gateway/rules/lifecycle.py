"""The event state machine of one rule on one camera (and one track): dwell, start, update, end,
cooldown.

::

    IDLE ──(min_frames consecutive matches, cooldown over)──► ACTIVE ──(no match for end_after_s,
      ▲                                                         │      or open for max_event_s)
      └────────────────(cooldown_s after the end)──── COOLDOWN ◄┘

Time is the frames' capture time (``captured_at``), never the wall clock, so every transition can be
driven from a table. ``observe`` takes one evaluated frame; ``tick`` lets time pass without frames
(motion gating stops inference on a static scene, and an event must still end). ``close`` ends an
open event for a reason outside the rule (a reload removed it, the gateway stops); ``retime`` lets an
open event continue under a reloaded rule's timing. Every ``start`` gets exactly one ``end``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.domain import AlertEvent, AlertKind, Box, Direction, EndReason, ModelRef
from gateway.rules.event_ids import EventIds
from gateway.rules.specs import EventTiming


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
    count: int | None = None
    """Tracks present, for count rules."""


class EventTracker:
    """One (camera, rule, track): consumes per-frame matches, returns the AlertEvents they cause."""

    def __init__(
        self,
        camera_id: str,
        rule: str,
        timing: EventTiming,
        min_frames: int,
        track_id: int | None = None,
        *,
        ids: EventIds | None = None,
    ) -> None:
        """``ids``: the camera's event ids, shared by its trackers (None: this tracker's own)."""
        self.camera_id = camera_id
        self.rule = rule
        self.track_id = track_id
        self._ids = EventIds() if ids is None else ids
        self._timing = timing
        self._min_frames = min_frames
        self.state = EventState.IDLE
        self._streak = 0
        self._event_id = ""
        self._started_at = 0.0
        self._last_match_at = 0.0
        self._news_at = 0.0
        """Capture time of the latest frame judged for this key (matching or not)."""
        self._last_sent_at = 0.0
        self._ended_at = 0.0
        self._best: Match | None = None
        self._best_sent_score = 0.0
        self._zones_sent: set[str | None] = set()
        self._count_sent: int | None = None

    def _move(self, target: EventState) -> None:
        if target not in _ALLOWED[self.state]:
            raise IllegalTransitionError(
                f"{self.camera_id}/{self.rule}: {self.state.value} -> {target.value}"
            )
        self.state = target

    def observe(self, frame_ts: float, match: Match | None) -> list[AlertEvent]:
        """One evaluated frame at ``frame_ts``; ``match`` is None when the rule does not hold on it."""
        events = self._advance(frame_ts, holding=match is not None)
        self._news_at = frame_ts
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

    def close(self, now: float, reason: EndReason) -> list[AlertEvent]:
        """End the open event, if any, for ``reason``; the tracker is done afterwards."""
        if self.state is not EventState.ACTIVE:
            return []
        return [self._end(now, reason)]

    def retime(self, timing: EventTiming, min_frames: int) -> None:
        """A reload kept the rule: its open event (and dwell, cooldown) continue under the new timing."""
        self._timing = timing
        self._min_frames = min_frames

    @property
    def open(self) -> bool:
        return self.state is EventState.ACTIVE

    @property
    def idle(self) -> bool:
        """Nothing open and no cooldown running: the tracker holds no state worth keeping."""
        return self.state is EventState.IDLE and self._streak == 0

    def forgotten(self, now: float) -> bool:
        """Nothing open, no cooldown running, and no news for ``end_after_s``: for a track that is
        gone, what is kept (a dwell streak short of ``min_frames``) can never matter again."""
        return self.state is EventState.IDLE and now - self._news_at >= self._timing.end_after_s

    def _advance(self, now: float, *, holding: bool) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        lapsed = not holding and now - self._last_match_at >= self._timing.end_after_s
        if self.state is EventState.ACTIVE and lapsed:
            events.append(self._end(now, EndReason.CLEARED))
        elif self.state is EventState.ACTIVE and now - self._started_at >= self._timing.max_event_s:
            events.append(self._end(now, EndReason.MAX_DURATION))
        if self.state is EventState.COOLDOWN and now - self._ended_at >= self._timing.cooldown_s:
            self._move(EventState.IDLE)
        return events

    def instant(self, frame_ts: float, match: Match, direction: Direction) -> AlertEvent:
        """An event with no duration (a line crossing): its own event id, no end, no cooldown."""
        self._event_id = self._new_event_id(frame_ts)
        return self._event(AlertKind.INSTANT, frame_ts, match, direction=direction)

    def _new_event_id(self, frame_ts: float) -> str:
        track = "" if self.track_id is None else f"t{self.track_id}:"
        return self._ids.new(f"{self.camera_id}:{self.rule}:{track}", frame_ts)

    def _start(self, frame_ts: float, match: Match) -> AlertEvent:
        self._move(EventState.ACTIVE)
        self._event_id = self._new_event_id(frame_ts)
        self._started_at = self._last_match_at = self._last_sent_at = frame_ts
        self._best = match
        self._best_sent_score = match.score
        self._zones_sent = {match.zone}
        self._count_sent = match.count
        return self._event(AlertKind.START, frame_ts, match)

    def _continue(self, frame_ts: float, match: Match) -> AlertEvent | None:
        self._last_match_at = frame_ts
        if self._best is None or (match.count or 0, match.score) > (self._best.count or 0, self._best.score):
            # The best observation: the most tracks for count rules, else the highest score.
            self._best = match
        better = match.score > self._best_sent_score
        new_zone = match.zone not in self._zones_sent
        new_count = match.count != self._count_sent
        too_soon = frame_ts - self._last_sent_at < self._timing.update_interval_s
        if not (better or new_zone or new_count) or too_soon:
            return None
        self._count_sent = match.count
        self._last_sent_at = frame_ts
        self._best_sent_score = max(self._best_sent_score, match.score)
        self._zones_sent.add(match.zone)
        return self._event(AlertKind.UPDATE, frame_ts, match)

    def _end(self, now: float, reason: EndReason) -> AlertEvent:
        best = self._best
        if best is None:
            raise IllegalTransitionError(f"{self.camera_id}/{self.rule}: active without a match")
        self._move(EventState.COOLDOWN)
        self._ended_at = now
        self._best = None
        # The end carries the event's best observation, at the time the end was decided.
        return self._event(AlertKind.END, now, best, end_reason=reason)

    def _event(
        self,
        kind: AlertKind,
        frame_ts: float,
        match: Match,
        *,
        direction: Direction | None = None,
        end_reason: EndReason | None = None,
    ) -> AlertEvent:
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
            track_id=self.track_id,
            direction=direction,
            count=match.count,
            end_reason=end_reason,
        )
