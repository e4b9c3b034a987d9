"""RuleEngine: per camera, turns FrameResults (detections and the camera's tracks) into AlertEvents:
start / update / end, and instant for line crossings.

Pure: no I/O, no clock, no config (``gateway.pipeline`` builds the ``CameraRules`` specs). Each rule
has a judge (``judge.py``, ``dwell.py``: what holds on a frame, with the state its type needs) and one
``EventTracker`` per key: the track for rules judged per track, None for frame-level ones. A rule
only judges results of its own model, so a detector's results never break the anomaly rule's dwell
streak and vice versa. The anomaly rule's judge also decides ``scene_change`` events itself (a lasting
change became the new normal, ``anomaly.py``) and says which cameras are due a re-enroll.

Reload (``reconfigure``): a rule that survives (same camera, name, type and model) keeps its open
events, dwell, cooldown and what its judge learned, under its new spec from then on; a rule that is
gone or changed what it is ends its open events (``rule_changed``). A duration rule's ``min_s`` is
what a stay must last before its event starts: an event already open goes on while its stay lasts
(a raised ``min_s`` applies to the next stay), never ended mid-stay and started again. ``close``
ends everything still open (the gateway stops); ``restart`` ends one camera's and starts its rules
afresh (its capture clock stepped back); ``continue_ids`` keeps event ids apart from those earlier
runs gave (``event_ids``). Together with the lifecycle's own ends, every ``start``
gets exactly one ``end``; instants have none.

Not thread-safe: one thread (the alert decider) owns the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.domain import AlertEvent, EndReason, FrameResult, SceneChange
from gateway.rules.dwell import CountJudge, LoiterJudge, StationaryJudge
from gateway.rules.event_ids import EventIds, IdsGiven
from gateway.rules.judge import AnomalyJudge, CrossingJudge, Judge, PresenceJudge, alive_ids
from gateway.rules.lifecycle import EventTracker
from gateway.rules.specs import CameraRules, RuleSpec, RuleType

JUDGES: dict[RuleType, type[Judge]] = {
    RuleType.ANOMALY: AnomalyJudge,
    RuleType.PRESENCE: PresenceJudge,
    RuleType.LINE_CROSSING: CrossingJudge,
    RuleType.LOITER: LoiterJudge,
    RuleType.COUNT: CountJudge,
    RuleType.STATIONARY: StationaryJudge,
}


def judge_for(spec: RuleSpec, ids: EventIds | None = None) -> Judge:
    """The rule's judge; ``ids``, the camera's event ids, for the events a judge decides itself."""
    if spec.type is RuleType.ANOMALY:
        return AnomalyJudge(spec, ids)
    return JUDGES[spec.type](spec)


@dataclass(slots=True)
class _Rule:
    camera_id: str
    spec: RuleSpec
    judge: Judge
    ids: EventIds
    """The camera's event ids (shared by its rules)."""
    trackers: dict[int | None, EventTracker] = field(default_factory=dict)

    def tracker(self, key: int | None) -> EventTracker:
        tracker = self.trackers.get(key)
        if tracker is None:
            tracker = EventTracker(
                self.camera_id,
                self.spec.name,
                self.spec.timing,
                self.spec.min_frames,
                track_id=key,
                ids=self.ids,
            )
            self.trackers[key] = tracker
        return tracker

    def forget_idle(self, now: float, alive: set[int] | None = None) -> None:
        """Drop trackers with nothing open, so state stays bounded by the objects in view: idle
        ones, and, given the live track ids (``alive``), those of departed tracks with nothing open
        and no news for ``end_after_s`` (``EventTracker.forgotten``). A departed track's id never
        comes back; kept, the trackers of tracks that matched on fewer than ``min_frames`` frames,
        or whose event ended, grew without bound on a busy scene, and every frame walked them all."""
        for key in [
            key
            for key, tracker in self.trackers.items()
            if key is not None
            and (tracker.idle or (alive is not None and key not in alive and tracker.forgotten(now)))
        ]:
            del self.trackers[key]


class RuleEngine:
    def __init__(self, cameras: Sequence[CameraRules] = ()) -> None:
        self._cameras: dict[str, dict[str, _Rule]] = {}
        self._ids: dict[str, EventIds] = {}
        """Per camera id configured in this run, its event ids: kept when a reload removes the
        camera, so ids given before it came back (on a clock that stepped back) are not given again."""
        self._given: Mapping[str, IdsGiven] = {}
        self.reconfigure(cameras, now=0.0)

    def continue_ids(self, given: Mapping[str, IdsGiven]) -> None:
        """Before the first frame: per camera, how far the ids earlier runs gave reached; this run's
        ids stay apart from them (``EventIds.continue_from``), cameras added by a reload too."""
        self._given = dict(given)
        for camera_id, ids in self._ids.items():
            earlier = self._given.get(camera_id)
            if earlier is not None:
                ids.continue_from(earlier)

    def camera_ids(self) -> list[str]:
        return list(self._cameras)

    def tracked_model(self, camera_id: str) -> str | None:
        """The model whose results the camera's track rules judge, None without track rules: the
        decider runs the camera's tracker on that model's results only."""
        for rule in self._cameras.get(camera_id, {}).values():
            if rule.spec.tracked:
                return rule.spec.model_name
        return None

    def process(self, result: FrameResult) -> list[AlertEvent]:
        """Judge one frame's result; time is its ``captured_at``. Unknown cameras yield nothing."""
        rules = self._cameras.get(result.camera_id)
        if rules is None:
            return []
        now = result.captured_at
        alive = alive_ids(result)
        events: list[AlertEvent] = []
        for rule in rules.values():
            if rule.spec.model_name != result.model.name:
                continue
            verdict = rule.judge.judge(result)
            events += verdict.events
            for key, match in verdict.matches.items():
                events += rule.tracker(key).observe(now, match)
            for key, tracker in list(rule.trackers.items()):
                if key not in verdict.matches:
                    # No news of this key on this frame (a missing or departed track): only time acts.
                    events += tracker.tick(now)
            for track_id, match, direction in verdict.instants:
                events.append(rule.tracker(track_id).instant(now, match, direction))
            rule.forget_idle(now, alive if rule.spec.tracked else None)
        return events

    def scene_change(self, camera_id: str) -> SceneChange | None:
        """The camera's lasting departure from its learned scene (a re-enroll is due), if any."""
        for rule in self._cameras.get(camera_id, {}).values():
            if isinstance(rule.judge, AnomalyJudge):
                return rule.judge.scene.change()
        return None

    def tick(self, now: float, camera_ids: Iterable[str] | None = None) -> list[AlertEvent]:
        """Let time pass without frames (``now`` in the cameras' capture clock): ends events that
        stopped holding. The decider calls it periodically because motion gating may stop results."""
        events: list[AlertEvent] = []
        for camera_id in list(self._cameras) if camera_ids is None else camera_ids:
            for rule in self._cameras.get(camera_id, {}).values():
                for tracker in rule.trackers.values():
                    events += tracker.tick(now)
                rule.forget_idle(now)
        return events

    def reconfigure(self, cameras: Sequence[CameraRules], now: float) -> list[AlertEvent]:
        """Apply new rules; returns the ends of open events whose rule did not survive."""
        replaced: dict[str, dict[str, _Rule]] = {}
        survivors: set[int] = set()
        for camera in cameras:
            old = self._cameras.get(camera.camera_id, {})
            rules: dict[str, _Rule] = {}
            for spec in camera.rules:
                previous = old.get(spec.name)
                if previous is not None and previous.spec.survives_as(spec):
                    previous.spec = spec
                    previous.judge.respec(spec)
                    for tracker in previous.trackers.values():
                        tracker.retime(spec.timing, spec.min_frames)
                    rules[spec.name] = previous
                    survivors.add(id(previous))
                else:
                    ids = self._camera_ids(camera.camera_id)
                    rules[spec.name] = _Rule(camera.camera_id, spec, judge_for(spec, ids), ids)
            replaced[camera.camera_id] = rules
        events: list[AlertEvent] = []
        for old_rules in self._cameras.values():
            for rule in old_rules.values():
                if id(rule) not in survivors:
                    events += _close(rule, now, EndReason.RULE_CHANGED)
        self._cameras = replaced
        return events

    def _camera_ids(self, camera_id: str) -> EventIds:
        ids = self._ids.get(camera_id)
        if ids is None:
            ids = self._ids[camera_id] = EventIds()
            earlier = self._given.get(camera_id)
            if earlier is not None:
                ids.continue_from(earlier)
        return ids

    def close(self, now: float, reason: EndReason = EndReason.STOPPED) -> list[AlertEvent]:
        """End every open event (the gateway stops); the engine keeps its rules and may go on."""
        events: list[AlertEvent] = []
        for rules in self._cameras.values():
            for rule in rules.values():
                events += _close(rule, now, reason)
        return events

    def restart(self, camera_id: str, now: float) -> list[AlertEvent]:
        """Start the camera's rules afresh: its open events end (``cleared``) at ``now`` and every
        rule forgets what it kept (dwell, cooldown, positions, what its judge learned), its specs
        kept. For a clock that stepped back: every time the rules kept is then in the future, so
        an open event would neither lapse nor reach ``max_event_s`` until the clock caught up; and
        the capture times in event ids repeat (``EventIds``)."""
        rules = self._cameras.get(camera_id, {})
        events: list[AlertEvent] = []
        for rule in rules.values():
            events += _close(rule, now, EndReason.CLEARED)
        ids = self._ids.get(camera_id)
        if ids is not None:
            ids.restart()
        for name, rule in rules.items():
            rules[name] = _Rule(camera_id, rule.spec, judge_for(rule.spec, rule.ids), rule.ids)
        return events

    def trackers_kept(self) -> int:
        """Event trackers held across every camera and rule: bounded by the tracks in view (and
        those gone within ``end_after_s``), whatever the number of tracks seen before."""
        return sum(len(rule.trackers) for rules in self._cameras.values() for rule in rules.values())

    def open_events(self) -> int:
        return sum(
            1
            for rules in self._cameras.values()
            for rule in rules.values()
            for tracker in rule.trackers.values()
            if tracker.open
        )


def _close(rule: _Rule, now: float, reason: EndReason) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for tracker in rule.trackers.values():
        events += tracker.close(now, reason)
    return events
