"""The judges of the duration rules: loiter, count and stationary (``judge.py`` has the others and
what every judge answers). Each keeps since when its condition has held, per track or per frame,
and holds once that has lasted ``min_s``; a stay that reached it rides out a break shorter than
``end_after_s``, as the open event it started does (``lifecycle.py``), and a loiterer's stay or a
crowd's stretch short of it rides out a break no longer than the tracker forgives a miss
(``max_lost_s``).
"""

from __future__ import annotations

import collections

from gateway.domain import Box, FrameResult, Track
from gateway.rules.geometry import box_iou
from gateway.rules.judge import TrackJudge, Verdict, alive_ids, forget_departed
from gateway.rules.lifecycle import Match
from gateway.rules.specs import RuleSpec

STATIONARY_IOU = 0.8
HISTORY_LIMIT = 4096
"""Boxes kept per track for ``stationary`` (a bound, whatever the frame rate and ``min_s``: they are
spaced so that half of it spans ``min_s``)."""


class LoiterJudge(TrackJudge):
    """Remembers since when each track has been inside the zones without leaving them.

    A track entered somewhere between the last frame it was seen outside and the first it is seen
    inside: the time counts from halfway, the estimate least wrong either way, so a detector that
    misses the object as it walks in (its track kept, missing) delays the alert by half the miss,
    not all of it (the tracking benchmark's stop-and-go-8: missed for 0.8 s at the zone's edge, its
    alert came 1.0 s late counted from the first frame inside, 0.4 s from halfway). A track seen
    inside from its start counts from where the tracker first linked its object (``Track.origin``)
    when that was inside too, as a crossing counts from there: on loiter-17 (seed 17, a hold-out) the detector
    did not see the loiterer at all for 1.6 s as it walked in, longer than ``max_lost_s``, so its
    track ended, then saw it inside the zone scoring 0.28-0.32 for three frames before a new track
    started; counted from the new track's first frame its alert came 1.1 s late, from its origin
    0.3 s."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__(spec)
        self._inside_since: dict[int, float] = {}
        self._outside_at: dict[int, float] = {}
        self._reached: set[int] = set()
        """Tracks whose present stay has lasted ``min_s``: they hold until they leave, so a reload
        that raises ``min_s`` hands their open event over instead of ending it mid-stay."""
        self._inside_at: dict[int, float] = {}
        """Capture time of each track's latest frame inside the zones."""
        self._left_at: dict[int, float] = {}
        """Tracks in a stay that were then seen outside: their latest frame inside."""
        self._out_since: dict[int, float] = {}
        """Tracks in a stay that were then seen outside: their first frame outside since."""

    def judge(self, result: FrameResult) -> Verdict:
        verdict = Verdict()
        now = result.captured_at
        alive = alive_ids(result)
        # A missing track (kept by the tracker) gives no news: it is still where it was last seen.
        for track, followed in self.observed(result):
            inside, zone = self.zone_of(track.box)
            if not (inside and self.of_labels(track)):
                self._outside_at[track.track_id] = now
                verdict.matches[track.track_id] = None
                if not self._left_briefly(track.track_id, now):
                    self._end_stay(track.track_id)
                continue
            if not self._back_in_time(track.track_id, now):
                self._end_stay(track.track_id)  # back after its stay ended: a new stay
            self._inside_at[track.track_id] = now
            since = self._inside_since.get(track.track_id)
            if since is None:
                since = self._inside_since[track.track_id] = self._entered(track, now)
            if followed and now - since >= self.spec.min_s:
                self._reached.add(track.track_id)
            holds = followed and track.track_id in self._reached
            verdict.matches[track.track_id] = self.match(track, zone, result) if holds else None
        forget_departed(self._inside_since, alive)
        forget_departed(self._outside_at, alive)
        forget_departed(self._inside_at, alive)
        forget_departed(self._left_at, alive)
        forget_departed(self._out_since, alive)
        self._reached &= alive
        self.forget(alive)
        return verdict

    def _left_briefly(self, track_id: int, now: float) -> bool:
        """Whether a track in a stay, seen outside the zones on this frame, is still in it
        (``_briefly``): its stay, and its open event, go on."""
        if track_id not in self._inside_since:
            return False
        self._left_at.setdefault(track_id, self._inside_at.get(track_id, now))
        self._out_since.setdefault(track_id, now)
        return self._briefly(track_id, now)

    def _back_in_time(self, track_id: int, now: float) -> bool:
        """Whether a track seen inside again after a time outside is back within its stay."""
        back = track_id not in self._left_at or self._briefly(track_id, now)
        self._left_at.pop(track_id, None)
        self._out_since.pop(track_id, None)
        return back

    def _briefly(self, track_id: int, now: float) -> bool:
        """Whether a stay outlives the time outside that its track began (``_left_at``,
        ``_out_since``) by ``now``.

        After ``min_s``: while it has been less than ``end_after_s`` since the latest frame inside.
        The event outlives a frame that does not hold by ``end_after_s`` (``lifecycle.py``); the
        stay must too, or a loiterer whose box's bottom edge dipped out of the zone on one frame
        (an edge of the zone, a detector's jitter) was held back for ``min_s`` anew when it was
        seen inside again, and its event ended mid-stay and started again.

        Before ``min_s``: while it has been outside no longer than the tracker forgives a miss
        (``RuleSpec.max_lost_s``, counted as the tracker counts a miss, from the first frame
        without it): a dip is a miss by another name, and one frame outside restarted the clock,
        delaying the alert by all the time inside before it. Not ``end_after_s``: a track that
        walked out for four seconds and back (or took over another walker's box) is no loiterer
        (the tracking benchmark's pole-1 and pole-2, both an alert too many)."""
        if track_id in self._reached:
            return now - self._left_at[track_id] < self.spec.timing.end_after_s
        return now - self._out_since[track_id] <= self.spec.max_lost_s

    def _end_stay(self, track_id: int) -> None:
        self._inside_since.pop(track_id, None)
        self._reached.discard(track_id)
        self._left_at.pop(track_id, None)
        self._out_since.pop(track_id, None)

    def _entered(self, track: Track, now: float) -> float:
        outside_at = self._outside_at.pop(track.track_id, None)
        if outside_at is not None:
            return (outside_at + now) / 2.0
        if track.first_seen_at != now or track.origin is None or track.origin_at is None:
            return now
        inside, _ = self.zone_of(track.origin)
        return track.origin_at if inside else now


class CountJudge(TrackJudge):
    """Frame level: the tracks present (missing ones within max_lost_s included) in the zones."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__(spec)
        self._enough_since: float | None = None
        self._reached = False
        """The present stretch of enough tracks has lasted ``min_s``: it holds until they are too
        few for ``end_after_s``, so a reload that raises ``min_s`` hands the open event over
        instead of ending it."""
        self._enough_at: float | None = None
        """Capture time of the latest frame with enough tracks."""
        self._short_from: float | None = None
        """Once the stretch reached ``min_s``, the latest frame with enough tracks before too few
        were seen; None while there are enough."""
        self._short_since: float | None = None
        """Before the stretch reached ``min_s``, the first frame with too few since the latest
        with enough; None while there are enough."""

    def judge(self, result: FrameResult) -> Verdict:
        present: list[tuple[Track, str | None]] = []
        for track in result.tracks:
            inside, zone = self.zone_of(track.box)
            if self.follows(track) and inside:
                present.append((track, zone))
        self.forget(alive_ids(result))
        now = result.captured_at
        if len(present) < self.spec.min_count:
            # Too few for less than end_after_s (one missed by the detector for longer than the
            # tracker keeps it, one stepping over the zone's edge): the open event rides it out,
            # as its lifecycle does, rather than waiting min_s anew once they are back. Before
            # min_s, too few for no longer than the tracker forgives a miss: one frame with one
            # stepping over the zone's edge restarted the clock, as it did a loiterer's.
            if self._reached and self._short_from is None:
                self._short_from = self._enough_at
            if self._enough_since is not None and not self._reached and self._short_since is None:
                self._short_since = now
            if not self._within_break(now):
                self._end_stretch()
            return Verdict({None: None})
        if not self._within_break(now):
            self._end_stretch()
        self._short_from = self._short_since = None
        self._enough_at = now
        if self._enough_since is None:
            self._enough_since = now
        self._reached = self._reached or now - self._enough_since >= self.spec.min_s
        if not self._reached:
            return Verdict({None: None})
        labels = collections.Counter(track.label for track, _ in present)
        zones = collections.Counter(zone for _, zone in present)
        best = max(present, key=lambda item: item[0].score)[0]
        match = Match(
            labels.most_common(1)[0][0],
            best.score,
            zones.most_common(1)[0][0],
            None,
            result.model,
            len(present),
        )
        return Verdict({None: match})

    def _within_break(self, now: float) -> bool:
        """Whether the present stretch outlives the time with too few tracks it is in, if any."""
        if self._short_from is not None:
            return now - self._short_from < self.spec.timing.end_after_s
        if self._short_since is not None:
            return now - self._short_since <= self.spec.max_lost_s
        return self._enough_since is not None

    def _end_stretch(self) -> None:
        self._enough_since = None
        self._reached = False
        self._short_from = self._short_since = None


class StationaryJudge(TrackJudge):
    """Keeps each track's recent boxes, enough to compare with the box of ``min_s`` ago."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__(spec)
        self._history: dict[int, collections.deque[tuple[float, Box]]] = {}
        self._still: set[int] = set()
        """Tracks that held on their latest frame judged. Without a reload their history always
        reaches ``min_s`` back; after one that raised ``min_s`` it may not yet, and they are judged
        against the oldest box kept, so their open event is handed over rather than ended while
        the object stays put."""

    def judge(self, result: FrameResult) -> Verdict:
        verdict = Verdict()
        now = result.captured_at
        alive = alive_ids(result)
        for track, followed in self.observed(result):
            history = self._history.setdefault(track.track_id, collections.deque(maxlen=HISTORY_LIMIT))
            # Boxes kept at least min_s / (HISTORY_LIMIT / 2) apart, so the history reaches min_s back
            # at any frame rate (appending every frame, 4096 boxes at 5 fps reached 819 s back, and a
            # rule with a longer min_s never held); the comparison point is at most that much older.
            if not history or now - history[-1][0] >= self.spec.min_s / (HISTORY_LIMIT // 2):
                history.append((now, track.box))
            # Keep one box at or before now - min_s (the comparison point) and everything after it.
            while len(history) >= 2 and history[1][0] <= now - self.spec.min_s:
                history.popleft()
            inside, zone = self.zone_of(track.box)
            then_at, then_box = history[0]
            long_enough = now - then_at >= self.spec.min_s or track.track_id in self._still
            still = long_enough and box_iou(track.box, then_box) >= STATIONARY_IOU
            holds = still and inside and followed
            if holds:
                self._still.add(track.track_id)
            else:
                self._still.discard(track.track_id)
            verdict.matches[track.track_id] = self.match(track, zone, result) if holds else None
        forget_departed(self._history, alive)
        self._still &= alive
        self.forget(alive)
        return verdict
