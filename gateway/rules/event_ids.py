"""One camera's event ids: ``{camera}:{rule}:{track}{capture ms}`` (``t{id}:`` for a track, nothing
for a frame-level rule), with a ``~{mark}`` where the capture time may have been given out before.

Capture time in ms is unique per (camera, rule, track) while the camera's clock only moves forward:
one event at a time, frames are ordered and each capture time judged once (the decider drops a
second result of one), a camera's frames are milliseconds apart (no stream is sampled at 1,000 fps),
and a track id keeps two objects that start on the same frame apart. Two things break that, and a
frame-level rule (count, anomaly), whose key never changes, would then start an event with an id an
earlier event had; the outbox and the audit side group alerts by event id, so the two events would
become one:

- the wall clock steps back during a run (``restart``, from the decider);
- the gateway starts on a clock behind the previous run's (fake-hwclock after a power loss restores
  the time it last saved): ``continue_from`` seeds the ids with what earlier runs committed (the
  outbox keeps it per camera), before the first id is given.

An id whose capture time is not past the newest one given out before the latest of these gets the
mark ``~{restarts}``, counted past every mark given before (earlier runs' included), so ids stay
unique within the run and across runs; every other id keeps the plain form. Ids are made once, where
the rule decides the event, and never renamed afterwards: every alert of one event carries its id.
"""

from __future__ import annotations

from typing import Protocol


class IdsGiven(Protocol):
    """How far the event ids earlier runs gave one camera reached (the outbox keeps it)."""

    @property
    def newest_ms(self) -> int:
        """The newest capture time (ms) in one of those ids."""

    @property
    def marks(self) -> int:
        """The highest ``~`` mark in one of those ids (0: none)."""

    @property
    def newest_track(self) -> int:
        """The highest track id in one of those events (0: none)."""


class EventIds:
    """Gives one camera's event ids (see the module doc)."""

    def __init__(self) -> None:
        self._restarts = 0
        """The mark of ids whose capture time may have been given out before."""
        self._newest_ms: int | None = None
        """The newest capture time (ms) in an id given out so far, earlier runs' included."""
        self._reused_until_ms: int | None = None
        """The newest capture time in an id given out before the latest restart."""

    def new(self, prefix: str, frame_ts: float) -> str:
        ms = round(frame_ts * 1000)
        self._newest_ms = ms if self._newest_ms is None else max(self._newest_ms, ms)
        if self._reused_until_ms is not None and ms <= self._reused_until_ms:
            return f"{prefix}{ms}~{self._restarts}"
        return f"{prefix}{ms}"

    def restart(self) -> None:
        """The camera's clock stepped (back, maybe): capture times from here on may repeat."""
        self._restarts += 1
        self._reused_until_ms = self._newest_ms

    def continue_from(self, given: IdsGiven) -> None:
        """Keep the ids from here on apart from those earlier runs gave the camera (``given``): as a
        restart after them, its mark past every mark they gave."""
        newest = given.newest_ms if self._newest_ms is None else max(self._newest_ms, given.newest_ms)
        self._newest_ms = newest
        self._restarts = max(self._restarts, given.marks) + 1
        self._reused_until_ms = newest
