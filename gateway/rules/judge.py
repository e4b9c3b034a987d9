"""What holds on one frame, per rule type: the judges, each with the little state its type needs.

A judge answers ``Verdict``: ``matches`` maps each key it has news about to its ``Match`` (the rule
holds) or None (it does not); ``instants`` are events with no duration (line crossings). A key is a
track id for rules judged per track, None for rules judged per frame. A track that is missing on
this frame (kept by the tracker for ``max_lost_s``) gives no news: its open event neither renews nor
ends until ``end_after_s`` passes, so a short miss never splits one visit into two events.

Which tracks a rule follows: those of its labels that have scored at least ``min_score`` on some
frame, seen since with a box within the rule's ``min_box_area``..``max_box_area`` share of the frame
(``TrackJudge.follows``): a figure too far off to matter, or a box over half the frame when the
light changes, is not the rule's object, and one that walks up to the camera stays followed. The
score decides whether a track is the rule's kind of object, not where the object is: once a track
qualifies, its frames count whatever they score, those before it qualified included. The tracker
has already said they are one object, and a face or person that turns, is partly hidden or stands
at the edge of the light scores lower without being gone (face-detector's moving faces score
0.4..0.55). Judged per frame instead, every dip below
``min_score`` restarted a loiterer's clock and dropped a person from a crowd's count while a track
missing altogether was forgiven, and a person who scored min_score only after walking through a
doorway was never counted (bench/tracking.py: crowd, loiter and pole scenes). So a loiterer's time
inside runs from when its track entered the zones, and a crossing made before the track qualified
is reported on the frame it qualifies (the move from its first position, so crossing and crossing
back before then is nothing).

Per type (DESIGN.md "Rules and tracks"; an object's position is its box's bottom-centre):
- ``presence``: a followed track inside the zones; one event per track.
- ``line_crossing``: a track's position moves from one side of the line to the other across the
  segment, from beyond the detector's jitter on one side to beyond it on the other
  (``geometry.Line.crossing``, ``geometry.Line.band``); one instant per crossing, filtered by
  ``direction``.
- ``loiter``: a track continuously inside the zones for ``min_s`` (missing frames forgiven while
  the tracker keeps the track; once reached, a stay rides out a time outside shorter than
  ``end_after_s``).
- ``count``: at least ``min_count`` tracks of the labels inside the zones at once for ``min_s``.
- ``stationary``: a track inside the zones whose box has IoU >= 0.8 with its own box ``min_s`` ago.
- ``anomaly``: the anomaly map's cells outside the new normal (frame level; ``anomaly.py``).

The judges of the duration rules (loiter, count, stationary) are in ``dwell.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gateway.domain import AlertEvent, Box, Direction, FrameResult, Track, box_area
from gateway.positions import Point, bottom_centre
from gateway.rules.anomaly import ANOMALY, SceneAnomaly, SceneAnomalySpec
from gateway.rules.event_ids import EventIds
from gateway.rules.geometry import Line
from gateway.rules.lifecycle import Match
from gateway.rules.reacquire import REACQUIRE_WINDOW, LostTracks, Sighting
from gateway.rules.specs import CrossingDirection, RuleSpec


@dataclass(slots=True)
class Verdict:
    matches: dict[int | None, Match | None] = field(default_factory=dict)
    instants: list[tuple[int, Match, Direction]] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)
    """Events the judge decided itself, outside any tracker (the anomaly rule's scene changes)."""


class Judge:
    """Base of the judges: the spec, the zone test, and a hook for specs that change on reload."""

    def __init__(self, spec: RuleSpec) -> None:
        self.spec = spec

    def respec(self, spec: RuleSpec) -> None:
        """A reload kept the rule: judge by the new spec from now on, keeping what was learned."""
        self.spec = spec

    def judge(self, result: FrameResult) -> Verdict:
        raise NotImplementedError

    def zone_of(self, box: Box) -> tuple[bool, str | None]:
        """(inside the rule's zones, the zone's name or None when the rule covers the whole frame)."""
        if any(zone.contains_box(box) for zone in self.spec.exclude_zones):
            return False, None
        if not self.spec.zones:
            return True, None
        for zone in self.spec.zones:
            if zone.contains_box(box):
                return True, zone.name
        return False, None

    def match(self, track: Track, zone: str | None, result: FrameResult, count: int | None = None) -> Match:
        return Match(track.label, track.score, zone, track.box, result.model, count)


class TrackJudge(Judge):
    """Base of the judges that follow tracks: which tracks count for the rule."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__(spec)
        self._confident: set[int] = set()

    def of_labels(self, track: Track) -> bool:
        return not self.spec.labels or track.label in self.spec.labels

    def follows(self, track: Track) -> bool:
        """A track of the rule's labels that has scored ``min_score`` on this or an earlier frame
        (one before it was confirmed included: ``Track.peak_score``), seen with a box within the
        rule's area band on a frame since."""
        if not self.of_labels(track):
            return False
        peak = track.score if track.peak_score is None else max(track.score, track.peak_score)
        if (
            peak >= self.spec.min_score
            and self.spec.min_box_area <= box_area(track.box) <= self.spec.max_box_area
        ):
            self._confident.add(track.track_id)
            return True
        return track.track_id in self._confident

    def respec(self, spec: RuleSpec) -> None:
        if _standard(spec) != _standard(self.spec):
            self._confident.clear()  # followed by another standard: each track qualifies anew
        super().respec(spec)

    def forget(self, alive: set[int]) -> None:
        """Drop what is kept for tracks the tracker has dropped (their ids never come back)."""
        self._confident &= alive

    def observed(self, result: FrameResult) -> Iterator[tuple[Track, bool]]:
        """The tracks observed on this frame, each with whether the rule follows it. Every track is
        asked, a missing one too: a track that qualifies (its peak score) while missing stays
        followed when it is seen again."""
        for track in result.tracks:
            followed = self.follows(track)
            if track.observed:
                yield track, followed


def _standard(spec: RuleSpec) -> tuple[frozenset[str], float, float, float]:
    """What makes a track the rule's object."""
    return spec.labels, spec.min_score, spec.min_box_area, spec.max_box_area


class AnomalyJudge(Judge):
    """Holds on the anomaly map's cells outside what became the new normal, located at the peak
    cell when they form one region (``anomaly.py``); a model without a map holds on its frame-level
    detection, box None."""

    def __init__(self, spec: RuleSpec, ids: EventIds | None = None) -> None:
        """``ids``: the camera's event ids, for the scene changes it decides itself."""
        super().__init__(spec)
        self.scene = SceneAnomaly(_scene_spec(spec), ids)

    def respec(self, spec: RuleSpec) -> None:
        self.scene.spec = _scene_spec(spec)  # streaks and patches learned so far stay
        super().respec(spec)

    def judge(self, result: FrameResult) -> Verdict:
        finding, events = self.scene.judge(result)
        match = None
        if finding is not None and finding.score >= self.spec.min_score:
            match = Match(ANOMALY, finding.score, None, finding.box, result.model)
        return Verdict({None: match}, events=events)


def _scene_spec(spec: RuleSpec) -> SceneAnomalySpec:
    return SceneAnomalySpec(spec.new_normal_after_s, spec.timing.end_after_s)


class PresenceJudge(TrackJudge):
    def judge(self, result: FrameResult) -> Verdict:
        verdict = Verdict()
        for track, followed in self.observed(result):
            inside, zone = self.zone_of(track.box)
            verdict.matches[track.track_id] = self.match(track, zone, result) if inside and followed else None
        self.forget(alive_ids(result))
        return verdict


class CrossingJudge(TrackJudge):
    """Remembers each track's last position that was clearly on one side of the line while the rule
    followed it, or its first such position until then. A track's first position is where the
    tracker first linked the object (``Track.origin``), which may be before the track was confirmed
    and numbered: an object whose track started only after it crossed is still counted. The origin
    is used only on the frame the track is confirmed on. A new track that is unambiguously the
    object of a track lost on the line's other side (nothing seen of it for longer than the tracker
    keeps a track) is judged from where that track was last seen (``reacquire.py``)."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__(spec)
        self._sided: dict[int, Point] = {}
        self._lost = LostTracks()

    def respec(self, spec: RuleSpec) -> None:
        if spec.line != self.spec.line:
            self._sided.clear()  # sides of another line mean nothing for this one
            self._lost.forget_all()
        super().respec(spec)

    def judge(self, result: FrameResult) -> Verdict:
        line = self.spec.line
        if line is None:
            return Verdict()
        verdict = Verdict()
        now = result.captured_at
        alive = alive_ids(result)
        window_s = REACQUIRE_WINDOW * self.spec.max_lost_s
        self._lost.depart(alive)
        newcomers = self._newcomers(result, line)
        links = self._lost.claim(newcomers, window_s)
        # The window runs to a newcomer's first sighting, not to the frame it is confirmed on. A track
        # confirmed later starts on this frame at the earliest (the tracker's confirm_hits of 2 confirms
        # a tentative track on the frame after it started, or drops it), its origin at most
        # max_lost_s before that.
        self._lost.forget(now - self.spec.max_lost_s, window_s)
        for track in result.tracks:
            if not track.observed or not self.of_labels(track):
                continue
            followed = self.follows(track)
            before = self._sided.get(track.track_id)
            if before is None and track.origin is not None and track.first_seen_at == now:
                # Only on the frame the track is confirmed: a track the rule meets later (a rule or
                # line added on reload) is judged from where it is, not from a past it never saw.
                # Kept even when the track is confirmed on the line, or its origin was lost with
                # that frame and a crossing it then completed was never counted.
                origin = bottom_centre(track.origin)
                if line.side(origin, line.band(track.origin)) != 0:
                    before = self._sided[track.track_id] = origin
            link = links.get(track.track_id)
            if link is not None and line.crossing(link.position, newcomers[track.track_id].position):
                # The object of a track lost on the other side, found with nothing seen between.
                before = self._sided[track.track_id] = link.position
            position = bottom_centre(track.box)
            side = line.side(position, line.band(track.box))
            if side == 0:
                continue  # on the line: judged from the last clear side once it leaves it
            if before is None or followed:
                self._sided[track.track_id] = position
            if followed and _walked_out(track.box, rising=before is not None and position[1] < before[1]):
                self._lost.left_view(track.track_id)
            elif followed:
                height = track.box[3] - track.box[1]
                self._lost.saw(track.track_id, Sighting(track.label, position, side, height, now))
            if before is None or not followed:
                continue
            direction = line.crossing(before, position)
            if direction is None or not _counts(self.spec.direction, direction):
                continue
            verdict.instants.append((track.track_id, self.match(track, None, result), direction))
        forget_departed(self._sided, alive)
        self.forget(alive)
        return verdict

    def _newcomers(self, result: FrameResult, line: Line) -> dict[int, Sighting]:
        """The tracks confirmed on this frame that the rule has not met, each with its first clear
        sighting: its origin, or where it is when its origin lies on the line."""
        newcomers = {}
        for track in result.tracks:
            fresh = track.first_seen_at == result.captured_at and track.track_id not in self._sided
            if not (fresh and track.observed and self.of_labels(track)):
                continue
            for box, at in ((track.origin, track.origin_at), (track.box, result.captured_at)):
                if box is None:
                    continue
                point = bottom_centre(box)
                side = line.side(point, line.band(box))
                if side != 0:
                    seen_at = result.captured_at if at is None else at
                    newcomers[track.track_id] = Sighting(track.label, point, side, box[3] - box[1], seen_at)
                    break
        return newcomers


def _walked_out(box: Box, *, rising: bool) -> bool:
    """Whether an object whose box is ``box`` walked out of view: its box reaches the frame's left,
    right or bottom edge (the detector clips boxes to it), or the top while it moves up the frame
    (``rising``: away from a door under a ceiling camera). The top alone is no exit: a person near a
    low camera has their head cut there while their feet, where the rules place them, stand inside."""
    x1, y1, x2, y2 = box
    return x1 <= 0.0 or x2 >= 1.0 or y2 >= 1.0 or (rising and y1 <= 0.0)


def _counts(wanted: CrossingDirection, direction: Direction) -> bool:
    return wanted is CrossingDirection.ANY or wanted.value == direction.value


def alive_ids(result: FrameResult) -> set[int]:
    """The ids of the tracks the tracker still keeps, observed or missing."""
    return {track.track_id for track in result.tracks}


def forget_departed(state: dict[int, Any], alive: set[int]) -> None:
    """Drop what is kept for tracks the tracker has dropped (their ids never come back)."""
    for track_id in [track_id for track_id in state if track_id not in alive]:
        del state[track_id]
