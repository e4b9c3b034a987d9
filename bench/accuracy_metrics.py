"""How the accuracy benchmark judges a run: the event rule every method goes through, event matching,
detection delay, and the summary and table.

Every method (the gateway's scene-anomaly models through the real pipeline, the OpenCV baselines and
the numpy reference during tuning) ends in the same place: per judged frame a flag (the frame
carries an ``anomaly`` detection), fed to the gateway's own ``RuleEngine`` with the camera's
``anomaly:`` settings below; the rule's ``start`` events are the detected events.

Event matching: a predicted event spans its start frame to its last flagged frame before its
``end``. It is a true positive when it overlaps the interval in which any part of an object is in
view, widened by ``TOLERANCE_S`` at the end; a ground-truth event (a fifth of the object in view) is
detected when some predicted event overlaps it, widened the same way. Normal frames are those more
than ``TOLERANCE_S`` from any part of any object. Detection delay = capture time of the first
overlapping event's start frame - the ground truth's start (the first frame with a fifth of the
object inside), both on the clip's own timeline. ``scene_change`` alerts (a persistent change
becoming the new normal) are counted apart: they are the rule telling the operator the scene
changed, not a detection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.clips import ClipSpec, Interval
from gateway.domain import AlertEvent, AlertKind

MIN_FRAMES = 3
END_AFTER_S = 1.0
COOLDOWN_S = 0.0
TOLERANCE_S = 1.0
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.95
TARGET_MEDIAN_DELAY_S = 1.0
ANOMALY_LABEL = "anomaly"
SCENE_CHANGE_LABEL = "scene_change"


def anomaly_rule(model: str) -> dict[str, object]:
    """The camera's ``anomaly:`` section every method is judged with."""
    return {"model": model, "min_frames": MIN_FRAMES, "end_after_s": END_AFTER_S, "cooldown_s": COOLDOWN_S}


@dataclass(frozen=True, slots=True)
class JudgedFrame:
    seq: int
    captured_at: float
    score: float
    flagged: bool
    """The result carried the anomaly detection the rule holds on."""


@dataclass(slots=True)
class CameraRecord:
    played_frames: int
    frames: dict[int, JudgedFrame] = field(default_factory=dict)
    events: list[AlertEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ClipResult:
    clip: str
    frames: int
    fps: float
    played_frames: int
    judged_frames: int
    """Played frames with a result (the rest were dropped by the pipeline, see ``drops``)."""
    ground_truth: int
    predicted: int
    true_positives: int
    detected: int
    false_alerts: int
    scene_changes: int
    normal_frames: int
    """Judged frames farther than the tolerance from any part of any object."""
    normal_frames_flagged: int
    """Of those, frames with an anomaly detection (what min_frames and the event merge hide)."""
    precision: float
    recall: float
    delays_s: list[float]
    reader_lag_max_s: float
    """Latest capture relative to the on-time schedule T0 + (seq - 1) / fps."""
    drops: dict[str, int]


def _microseconds(at: float) -> int:
    # Committed alerts carry frame_ts to the microsecond (the alert contract); frames are matched so.
    return round(at * 1_000_000)


def _predicted(record: CameraRecord, offset: int) -> list[tuple[Interval, float]]:
    """(clip-index interval, capture time of the start frame) of each anomaly event the rules started."""
    seq_at = {_microseconds(judged.captured_at): judged.seq for judged in record.frames.values()}
    flagged = sorted(
        (_microseconds(judged.captured_at), judged.seq) for judged in record.frames.values() if judged.flagged
    )
    events = sorted(
        (
            event
            for event in record.events
            if event.kind is not AlertKind.UPDATE and event.label != SCENE_CHANGE_LABEL
        ),
        key=lambda event: event.frame_ts,
    )
    predicted = []
    for index, event in enumerate(events):
        if event.kind is not AlertKind.START:
            continue
        closing = next((later for later in events[index + 1 :] if later.kind is AlertKind.END), None)
        began = _microseconds(event.frame_ts)
        until = _microseconds(closing.frame_ts) if closing is not None else 2**62
        start_seq = seq_at[began]
        last_seq = max((seq for at, seq in flagged if began <= at <= until), default=start_seq)
        predicted.append((Interval(offset + start_seq - 1, offset + last_seq - 1), event.frame_ts))
    return predicted


def evaluate(
    spec: ClipSpec,
    truth: Sequence[Interval],
    presence: Sequence[Interval],
    record: CameraRecord,
    drops: Mapping[str, int],
) -> ClipResult:
    offset = spec.enroll_frames
    judged = sorted(record.frames.values(), key=lambda frame: frame.seq)
    schedule = [frame.captured_at - (frame.seq - 1) / spec.fps for frame in judged]
    clip_start = min(schedule) if schedule else 0.0
    predicted = _predicted(record, offset)
    tolerance = round(TOLERANCE_S * spec.fps)

    def overlaps(event: Interval, interval: Interval) -> bool:
        return bool(event.start <= interval.end + tolerance and event.end >= interval.start)

    near_object = np.zeros(spec.frame_count, dtype=bool)
    for interval in presence:
        near_object[max(0, interval.start - tolerance) : interval.end + tolerance + 1] = True
    normal = [frame for frame in judged if not near_object[offset + frame.seq - 1]]
    true_positives = sum(1 for event, _ in predicted if any(overlaps(event, seen) for seen in presence))
    delays = []
    for interval in truth:
        starts = [at for event, at in predicted if overlaps(event, interval)]
        if starts:
            delays.append(max(0.0, min(starts) - clip_start - (interval.start - offset) / spec.fps))
    scene_changes = sum(
        1 for event in record.events if event.label == SCENE_CHANGE_LABEL and event.kind is AlertKind.START
    )
    return ClipResult(
        clip=spec.name,
        frames=spec.frame_count,
        fps=spec.fps,
        played_frames=record.played_frames,
        judged_frames=len(judged),
        ground_truth=len(truth),
        predicted=len(predicted),
        true_positives=true_positives,
        detected=len(delays),
        false_alerts=len(predicted) - true_positives,
        scene_changes=scene_changes,
        normal_frames=len(normal),
        normal_frames_flagged=sum(1 for frame in normal if frame.flagged),
        precision=true_positives / len(predicted) if predicted else 1.0,
        recall=len(delays) / len(truth) if truth else 1.0,
        delays_s=delays,
        reader_lag_max_s=float(max(schedule) - clip_start) if schedule else 0.0,
        drops=dict(drops),
    )


def summarise(results: Sequence[ClipResult]) -> dict[str, object]:
    event_clips = [result for result in results if result.ground_truth]
    drift_clips = [result for result in results if not result.ground_truth]
    predicted = sum(result.predicted for result in event_clips)
    truth = sum(result.ground_truth for result in event_clips)
    delays = [delay for result in event_clips for delay in result.delays_s]
    precision = sum(result.true_positives for result in event_clips) / predicted if predicted else 1.0
    recall = sum(result.detected for result in event_clips) / truth if truth else 1.0
    drift_false_alerts = sum(result.false_alerts for result in drift_clips)
    median_delay = float(np.median(delays)) if delays else None
    return {
        "precision": precision,
        "recall": recall,
        "ground_truth_events": truth,
        "predicted_events": predicted,
        "detected_events": sum(result.detected for result in event_clips),
        "delay_median_s": median_delay,
        "delay_p90_s": float(np.percentile(delays, 90)) if delays else None,
        "delay_mean_s": float(np.mean(delays)) if delays else None,
        "drift_clips": len(drift_clips),
        "drift_false_alerts": drift_false_alerts,
        "scene_changes": sum(result.scene_changes for result in results),
        "played_frames": sum(result.played_frames for result in results),
        "judged_frames": sum(result.judged_frames for result in results),
        "normal_frames": sum(result.normal_frames for result in results),
        "normal_frames_flagged": sum(result.normal_frames_flagged for result in results),
        "meets_targets": precision >= TARGET_PRECISION
        and recall >= TARGET_RECALL
        and drift_false_alerts == 0
        and median_delay is not None
        and median_delay <= TARGET_MEDIAN_DELAY_S,
    }


def _seconds(value: object) -> str:
    return "-" if value is None else f"{float(str(value)):.2f}"


def clip_table(results: Sequence[ClipResult], summary: Mapping[str, object]) -> str:
    lines = [
        "| clip | judged/played frames | events | predicted | precision | recall | median delay s "
        "| max delay s | false alerts | scene changes | flagged normal frames |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        median = float(np.median(result.delays_s)) if result.delays_s else None
        worst = max(result.delays_s) if result.delays_s else None
        lines.append(
            f"| {result.clip} | {result.judged_frames}/{result.played_frames} | {result.ground_truth} | "
            f"{result.predicted} | {result.precision:.3f} | {result.recall:.3f} | {_seconds(median)} | "
            f"{_seconds(worst)} | {result.false_alerts} | {result.scene_changes} | "
            f"{result.normal_frames_flagged}/{result.normal_frames} |"
        )
    lines.append(
        f"| **all** | {summary['judged_frames']}/{summary['played_frames']} | "
        f"{summary['ground_truth_events']} | {summary['predicted_events']} | "
        f"{float(str(summary['precision'])):.3f} | {float(str(summary['recall'])):.3f} | "
        f"{_seconds(summary['delay_median_s'])} | | drift clips: {summary['drift_false_alerts']} | "
        f"{summary['scene_changes']} | {summary['normal_frames_flagged']}/{summary['normal_frames']} |"
    )
    return "\n".join(lines)
