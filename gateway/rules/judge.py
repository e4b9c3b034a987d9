"""What holds on one frame, per rule: the best matching detection for each key the rule follows.

A key is a track id for rules judged per track, or None for frame-level rules. The result maps every
key that holds to its ``Match``; a frame-level rule always answers for its key (None when it does
not hold), so its dwell streak sees every frame of its model.
"""

from __future__ import annotations

from gateway.domain import Detection, FrameResult
from gateway.rules.lifecycle import Match
from gateway.rules.specs import RuleSpec, RuleType

Matches = dict[int | None, Match | None]


def judge(spec: RuleSpec, result: FrameResult) -> Matches:
    if spec.type is RuleType.ANOMALY:
        return {None: _best(spec, result, frame_level=True)}
    return {None: _best(spec, result, frame_level=False)}


def _best(spec: RuleSpec, result: FrameResult, *, frame_level: bool) -> Match | None:
    best: Match | None = None
    for detection in result.detections:
        holds, zone = _zone_of(spec, detection, frame_level=frame_level)
        if not holds or (best is not None and detection.score <= best.score):
            continue
        best = Match(detection.label, detection.score, zone, detection.box, result.model)
    return best


def _zone_of(spec: RuleSpec, detection: Detection, *, frame_level: bool) -> tuple[bool, str | None]:
    """(whether the detection holds the rule, the zone it is in or None for the whole frame)."""
    if (spec.labels and detection.label not in spec.labels) or detection.score < spec.min_score:
        return False, None
    if frame_level:
        # A frame-level result may still say where (an anomaly map's peak): it holds for the frame.
        return True, None
    if detection.box is None:
        return False, None
    if not spec.zones:
        return True, None
    for zone in spec.zones:
        if zone.contains_box(detection.box):
            return True, zone.name
    return False, None
