"""What the rules keep per track stays bounded by the tracks in view: a track that is gone (its id is
never given out again) leaves nothing behind once nothing of it is open, whether it matched on fewer
than ``min_frames`` frames or its event ended. Kept, a busy scene's passers-by piled up without
bound, and every frame and tick walked them all. Constructed tracks, the real rule engine."""

from __future__ import annotations

from gateway.domain import AlertKind, FrameResult, ModelRef, Track
from gateway.rules.engine import RuleEngine
from gateway.rules.geometry import Zone
from gateway.rules.specs import CameraRules, EventTiming, RuleSpec, RuleType

DETECTOR = ModelRef("detector", 1)
YARD = Zone("yard", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)))
TIMING = EventTiming(cooldown_s=30.0, update_interval_s=10.0, end_after_s=5.0, max_event_s=300.0)
PASSERS_BY = 2_000


def engine_for(rule_type: RuleType, min_frames: int = 1, min_s: float = 0.0) -> RuleEngine:
    spec = RuleSpec(
        "watch", rule_type, "detector", frozenset({"person"}), (YARD,), 0.5, min_frames, TIMING, min_s=min_s
    )
    return RuleEngine([CameraRules("gate", (spec,))])


def frame(index: int, at: float, *tracks: Track) -> FrameResult:
    return FrameResult("gate", index, at, DETECTOR, (), tracks=tracks)


def passer_by(track_id: int, at: float) -> Track:
    return Track(track_id, "person", 0.9, (0.4, 0.6, 0.5, 0.9), True, at)


def test_tracks_gone_before_min_frames_leave_nothing_behind() -> None:
    # Given a presence rule that needs three frames, and passers-by each seen on one frame only
    engine = engine_for(RuleType.PRESENCE, min_frames=3)
    for index in range(PASSERS_BY):
        assert engine.process(frame(index, index * 0.2, passer_by(index + 1, index * 0.2))) == []
    # Then only those gone within end_after_s are still kept
    assert engine.trackers_kept() <= TIMING.end_after_s / 0.2 + 1
    engine.process(frame(PASSERS_BY, PASSERS_BY * 0.2 + TIMING.end_after_s))
    assert engine.trackers_kept() == 0


def test_tracks_whose_events_ended_leave_nothing_behind() -> None:
    engine = engine_for(RuleType.PRESENCE)
    events = []
    at = 0.0
    for index in range(PASSERS_BY):
        at = index * 0.2
        events += engine.process(frame(index, at, passer_by(index + 1, at)))
        events += engine.tick(at)
    # The last events end, their cooldowns run out, and a frame comes with nobody in it
    at += TIMING.end_after_s
    events += engine.tick(at)
    at += TIMING.cooldown_s + TIMING.end_after_s
    events += engine.tick(at)
    events += engine.process(frame(PASSERS_BY, at))
    # Every event started and ended, and no state of the departed tracks is left
    starts = [event.event_id for event in events if event.kind is AlertKind.START]
    ends = [event.event_id for event in events if event.kind is AlertKind.END]
    assert len(starts) == PASSERS_BY
    assert sorted(starts) == sorted(ends)
    assert engine.trackers_kept() == 0


def test_a_track_in_view_keeps_its_dwell_and_its_event() -> None:
    # A loiterer in view throughout keeps its tracker while passers-by come and go
    engine = engine_for(RuleType.LOITER, min_s=10.0)
    events = []
    for index in range(200):
        at = index * 0.2
        events += engine.process(frame(index, at, passer_by(1, at), passer_by(index + 2, at)))
    kinds = [(event.kind, event.track_id) for event in events]
    # Every track in view loiters only as long as it is seen: just the loiterer reached min_s
    assert kinds == [(AlertKind.START, 1)]
    assert engine.open_events() == 1
