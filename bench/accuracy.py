"""Anomaly-path accuracy of the real pipeline (cameras -> models -> rules) on labelled clips.

For every clip: enroll ``scene-anomaly-<clip>`` on the clip's normal part (``gateway.enroll``, as
``edge-gateway enroll`` does), and write the rest of the clip as a lossless video file
(``clips.write_video``). Then all clips play at once, one file camera per clip, through the
gateway's own parts, wired as ``gateway.pipeline.Gateway`` wires them: ``CameraPipeline`` (camera
reader threads at the file's own frame rate, the sampler) -> ``InferenceService`` (repository,
batcher, worker pool, pre- and post-processing with the threshold stored with each model) ->
``RuleEngine`` with each camera's ``anomaly:`` config. The rule engine's ``start`` events are the
detected events. The outbox is left out: it would add only a disk write per alert, and the metrics
below need each judged frame (sequence number, capture time, score), which only the result sink sees.

Differences from a production config, each on purpose:

- motion gating is off, so every frame reaches the model (gating is a CPU saving, not a detector);
- the sampler visits each camera at twice the clip's frame rate: the reader and the sampler run on
  their own clocks, and at equal rates jitter would skip frames; a visit with no new frame is free;
- ``cooldown_s`` is 0, so an object that follows another soon after is its own event;
- no cap on frames pending across cameras (``Gateway`` uses twice the workers): all cameras start in
  the same sampler tick, and such a cap would drop most of them as ``busy``;
- a camera's frames after the clip's end (file cameras loop) are refused before inference.

Timing: frame ``seq`` (1-based, counted by the camera reader over every decoded frame) is the frame's
position in the video, so clip index = enrolled frames + seq - 1. The clip's start wall time T0 is
min(captured_at - (seq - 1) / fps) over the judged frames (the reader sleeps until each frame is due
and is never early, so the minimum is the on-time schedule). Detection delay = (capture time of the
event's start frame - T0) - ground-truth start / fps, so it includes any lag of the camera reader.

Event matching: a predicted event spans its start frame to its last frame with an anomaly detection
before its ``end``. It is a true positive when it overlaps a ground-truth interval widened by
``TOLERANCE_S`` at the end (the last frames of an object leaving); a ground-truth event is detected
when some predicted event overlaps it.

Usage::

    .venv/bin/python bench/accuracy.py [--quick] [--out bench/results/accuracy.json]

writes the JSON and the same table as markdown next to it (accuracy.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
from prometheus_client import CollectorRegistry

BENCH = Path(__file__).resolve().parent
# Run as a script, bench/ comes first on sys.path, where bench/tensorrt.py would shadow TensorRT for the
# inference service; the clips are imported as bench.clips from the repository root instead.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from bench.clips import Clip, ClipSpec, Interval, clip_set, write_video  # noqa: E402
from gateway.config import GatewayConfig  # noqa: E402
from gateway.domain import AlertEvent, AlertKind, DetectOutput, Frame, FrameResult, ModelReference  # noqa: E402
from gateway.enroll import enroll_frames, model_name  # noqa: E402
from gateway.errors import OverloadedError  # noqa: E402
from gateway.inference.service import InferenceService  # noqa: E402
from gateway.ingest.cameras import CameraPipeline  # noqa: E402
from gateway.pipeline.specs import ANOMALY_RULE, rule_specs  # noqa: E402
from gateway.rules.engine import RuleEngine  # noqa: E402

MIN_FRAMES = 3
END_AFTER_S = 1.0
COOLDOWN_S = 0.0
TOLERANCE_S = 1.0
SAMPLING_FACTOR = 2.0
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.95
SETTLE_S = 1.0
"""Wait after the last camera looped, for the results of its last frames."""


@dataclass(frozen=True, slots=True)
class PreparedClip:
    spec: ClipSpec
    events: tuple[Interval, ...]
    video: Path
    played_frames: int
    """Frames in the video: the clip after its enrollment part."""
    raw_threshold: float


def prepare(spec: ClipSpec, workdir: Path) -> PreparedClip:
    """Enroll on the normal part, write the rest as the camera's video (runs in a worker process)."""
    clip = Clip(spec)
    enrolled = enroll_frames(
        clip.frames(0, spec.enroll_frames), camera_id=spec.name, repository=workdir / "models"
    )
    video = workdir / "clips" / f"{spec.name}.mkv"
    played = write_video(clip, video, spec.enroll_frames)
    return PreparedClip(spec, clip.events, video, played, enrolled.raw_threshold)


def gateway_config(clips: Sequence[PreparedClip], workdir: Path) -> GatewayConfig:
    cameras = [
        {
            "id": clip.spec.name,
            "url": str(clip.video),
            "detect_fps": SAMPLING_FACTOR * clip.spec.fps,
            "motion": {"enabled": False},
            "anomaly": {
                "model": model_name(clip.spec.name),
                "min_frames": MIN_FRAMES,
                "end_after_s": END_AFTER_S,
                "cooldown_s": COOLDOWN_S,
            },
        }
        for clip in clips
    ]
    return GatewayConfig.model_validate(
        {
            "device_id": "accuracy",
            "state_dir": str(workdir / "state"),
            "models": {"repository": str(workdir / "models")},
            "cameras": cameras,
        }
    )


@dataclass(frozen=True, slots=True)
class JudgedFrame:
    seq: int
    captured_at: float
    score: float
    flagged: bool
    """The result carried the anomaly detection the rule holds on (score at or above threshold)."""


@dataclass(slots=True)
class _CameraRecord:
    played_frames: int
    frames: dict[int, JudgedFrame] = field(default_factory=dict)
    events: list[AlertEvent] = field(default_factory=list)


class Recorder:
    """Between the camera half and the rules: refuses replayed frames, records every judged frame and
    feeds the rule engine in one place (as the gateway's decider thread does)."""

    def __init__(self, inference: InferenceService, rules: RuleEngine, clips: Sequence[PreparedClip]) -> None:
        self._inference = inference
        self._rules = rules
        self._lock = threading.Lock()
        self.cameras = {clip.spec.name: _CameraRecord(clip.played_frames) for clip in clips}

    def detect(self, reference: ModelReference, frame: Frame, deadline: float | None) -> Future[DetectOutput]:
        if frame.seq > self.cameras[frame.camera_id].played_frames:
            raise OverloadedError("clip already played to its end")
        return self._inference.submit_frame(reference, frame.image, deadline)

    def sink(self, frame: Frame, result: FrameResult) -> None:
        record = self.cameras[frame.camera_id]
        flagged = any(detection.label == ANOMALY_RULE for detection in result.detections)
        judged = JudgedFrame(frame.seq, frame.captured_at, result.anomaly_score or 0.0, flagged)
        with self._lock:
            record.frames[frame.seq] = judged
            record.events += self._rules.process(result)

    def close_events(self) -> None:
        """End events still open when their clip ended, as the gateway's tick would."""
        with self._lock:
            for camera_id, record in self.cameras.items():
                if record.frames:
                    last = max(judged.captured_at for judged in record.frames.values())
                    record.events += self._rules.tick(last + END_AFTER_S + 0.001, [camera_id])


def play(clips: Sequence[PreparedClip], workdir: Path) -> tuple[Recorder, dict[str, dict[str, int]]]:
    """All clips through the pipeline at once; returns the records and each camera's drop counts."""
    config = gateway_config(clips, workdir)
    registry = CollectorRegistry()
    inference = InferenceService.from_config(config, registry)
    recorder = Recorder(inference, RuleEngine(rule_specs(config.cameras)), clips)
    cameras = CameraPipeline(config.cameras, recorder.detect, recorder.sink, registry)
    inference.start()
    try:
        cameras.start()
        longest = max(clip.played_frames / clip.spec.fps for clip in clips)
        give_up = time.monotonic() + 1.5 * longest + 30.0
        while time.monotonic() < give_up and any(
            cameras.frames_in(clip.spec.name) <= clip.played_frames for clip in clips
        ):
            time.sleep(0.25)
        time.sleep(SETTLE_S)
        drops = {
            status.camera_id: {reason.value: count for reason, count in status.drops.items()}
            for status in cameras.cameras()
        }
    finally:
        cameras.stop()
        inference.stop()
    recorder.close_events()
    return recorder, drops


@dataclass(frozen=True, slots=True)
class ClipResult:
    clip: str
    frames: int
    fps: float
    played_frames: int
    judged_frames: int
    """Played frames with a model result (the rest were dropped by the pipeline, see ``drops``)."""
    ground_truth: int
    predicted: int
    true_positives: int
    detected: int
    false_alerts: int
    normal_frames: int
    """Judged frames farther than the tolerance from every ground-truth interval."""
    normal_frames_flagged: int
    """Of those, frames with an anomaly detection (what min_frames and the event merge hide)."""
    precision: float
    recall: float
    delay_mean_s: float | None
    delay_max_s: float | None
    reader_lag_max_s: float
    """Latest capture relative to the on-time schedule T0 + (seq - 1) / fps."""
    raw_threshold: float
    drops: dict[str, int]


def _predicted(record: _CameraRecord, offset: int) -> list[tuple[Interval, float]]:
    """(clip-index interval, capture time of the start frame) of each event the rules started."""
    seq_at = {judged.captured_at: judged.seq for judged in record.frames.values()}
    flagged = sorted((judged.captured_at, judged.seq) for judged in record.frames.values() if judged.flagged)
    predicted = []
    events = sorted(
        (event for event in record.events if event.kind is not AlertKind.UPDATE),
        key=lambda event: event.frame_ts,
    )
    for index, event in enumerate(events):
        if event.kind is not AlertKind.START:
            continue
        closing = next((later for later in events[index + 1 :] if later.kind is AlertKind.END), None)
        until = closing.frame_ts if closing is not None else float("inf")
        start_seq = seq_at[event.frame_ts]
        last_seq = max(seq for at, seq in flagged if event.frame_ts <= at <= until)
        predicted.append((Interval(offset + start_seq - 1, offset + last_seq - 1), event.frame_ts))
    return predicted


def evaluate(clip: PreparedClip, record: _CameraRecord, drops: Mapping[str, int]) -> ClipResult:
    spec = clip.spec
    offset = spec.enroll_frames
    judged = sorted(record.frames.values(), key=lambda frame: frame.seq)
    schedule = [frame.captured_at - (frame.seq - 1) / spec.fps for frame in judged]
    clip_start = min(schedule) if schedule else 0.0
    predicted = _predicted(record, offset)
    truth = list(clip.events)
    tolerance = round(TOLERANCE_S * spec.fps)

    def overlaps(event: Interval, interval: Interval) -> bool:
        return bool(event.start <= interval.end + tolerance and event.end >= interval.start)

    near_event = np.zeros(spec.frame_count, dtype=bool)
    for gt in truth:
        near_event[max(0, gt.start - tolerance) : gt.end + tolerance + 1] = True
    normal = [frame for frame in judged if not near_event[offset + frame.seq - 1]]
    true_positives = sum(1 for event, _ in predicted if any(overlaps(event, gt) for gt in truth))
    delays = []
    for gt in truth:
        starts = [at for event, at in predicted if overlaps(event, gt)]
        if starts:
            delays.append(max(0.0, min(starts) - clip_start - (gt.start - offset) / spec.fps))
    return ClipResult(
        clip=spec.name,
        frames=spec.frame_count,
        fps=spec.fps,
        played_frames=clip.played_frames,
        judged_frames=len(judged),
        ground_truth=len(truth),
        predicted=len(predicted),
        true_positives=true_positives,
        detected=len(delays),
        false_alerts=len(predicted) - true_positives,
        normal_frames=len(normal),
        normal_frames_flagged=sum(1 for frame in normal if frame.flagged),
        precision=true_positives / len(predicted) if predicted else 1.0,
        recall=len(delays) / len(truth) if truth else 1.0,
        delay_mean_s=float(np.mean(delays)) if delays else None,
        delay_max_s=float(np.max(delays)) if delays else None,
        reader_lag_max_s=float(max(schedule) - clip_start) if schedule else 0.0,
        raw_threshold=clip.raw_threshold,
        drops=dict(drops),
    )


def summarise(results: Sequence[ClipResult]) -> dict[str, object]:
    event_clips = [result for result in results if result.ground_truth]
    drift_clips = [result for result in results if not result.ground_truth]
    predicted = sum(result.predicted for result in event_clips)
    truth = sum(result.ground_truth for result in event_clips)
    delays = [result.delay_mean_s for result in event_clips if result.delay_mean_s is not None]
    precision = sum(result.true_positives for result in event_clips) / predicted if predicted else 1.0
    recall = sum(result.detected for result in event_clips) / truth if truth else 1.0
    drift_false_alerts = sum(result.false_alerts for result in drift_clips)
    return {
        "precision": precision,
        "recall": recall,
        "ground_truth_events": truth,
        "predicted_events": predicted,
        "delay_mean_s": float(np.mean(delays)) if delays else None,
        "drift_false_alerts": drift_false_alerts,
        "played_frames": sum(result.played_frames for result in results),
        "judged_frames": sum(result.judged_frames for result in results),
        "normal_frames": sum(result.normal_frames for result in results),
        "normal_frames_flagged": sum(result.normal_frames_flagged for result in results),
        "meets_targets": precision >= TARGET_PRECISION
        and recall >= TARGET_RECALL
        and drift_false_alerts == 0,
    }


def markdown(results: Sequence[ClipResult], summary: dict[str, object]) -> str:
    lines = [
        "| clip | judged/played frames | events | predicted | precision | recall | mean delay s "
        "| max delay s | false alerts | flagged normal frames |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        mean = "-" if result.delay_mean_s is None else f"{result.delay_mean_s:.2f}"
        worst = "-" if result.delay_max_s is None else f"{result.delay_max_s:.2f}"
        lines.append(
            f"| {result.clip} | {result.judged_frames}/{result.played_frames} | {result.ground_truth} | "
            f"{result.predicted} | {result.precision:.3f} | {result.recall:.3f} | {mean} | {worst} | "
            f"{result.false_alerts} | {result.normal_frames_flagged}/{result.normal_frames} |"
        )
    delay = summary["delay_mean_s"]
    lines.append(
        f"| **all event clips** | {summary['judged_frames']}/{summary['played_frames']} | "
        f"{summary['ground_truth_events']} | {summary['predicted_events']} | "
        f"{summary['precision']:.3f} | {summary['recall']:.3f} | "
        f"{'-' if delay is None else f'{delay:.2f}'} | | drift clip: {summary['drift_false_alerts']} | "
        f"{summary['normal_frames_flagged']}/{summary['normal_frames']} |"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short clip set for CI (under 2 minutes)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "accuracy.json"
    )
    arguments = parser.parse_args(argv)
    began = time.perf_counter()
    specs = clip_set(arguments.quick)
    with tempfile.TemporaryDirectory(prefix="accuracy-") as directory:
        workdir = Path(directory)
        (workdir / "clips").mkdir()
        with ProcessPoolExecutor(max_workers=2) as pool:
            clips = list(pool.map(prepare, specs, [workdir] * len(specs)))
        prepared_s = time.perf_counter() - began
        recorder, drops = play(clips, workdir)
    results = [
        evaluate(clip, recorder.cameras[clip.spec.name], drops.get(clip.spec.name, {})) for clip in clips
    ]
    summary = summarise(results)
    document = {
        "benchmark": "accuracy",
        "mode": "quick" if arguments.quick else "full",
        "method": "file cameras -> CameraPipeline -> InferenceService -> RuleEngine, all clips at once",
        "rule": {
            "min_frames": MIN_FRAMES,
            "end_after_s": END_AFTER_S,
            "cooldown_s": COOLDOWN_S,
            "tolerance_s": TOLERANCE_S,
            "detect_fps": f"{SAMPLING_FACTOR:g} x clip fps",
            "motion_gating": False,
        },
        "targets": {"precision": TARGET_PRECISION, "recall": TARGET_RECALL, "drift_false_alerts": 0},
        "summary": summary,
        "clips": [asdict(result) for result in results],
        "prepare_seconds": prepared_s,
        "seconds": time.perf_counter() - began,
        "machine": {
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "cpu": platform.machine(),
        },
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(document, indent=2) + "\n")
    table = markdown(results, summary)
    command = "bench/accuracy.py" + (" --quick" if arguments.quick else "")
    arguments.out.with_suffix(".md").write_text(
        f"# Anomaly accuracy through the pipeline ({document['mode']} clip set)\n\n"
        f"`.venv/bin/python {command}`: {document['method']}; {document['seconds']:.0f} s.\n\n"
        f"{table}\n"
    )
    print(table)
    print(
        f"\nwritten {arguments.out} in {document['seconds']:.1f} s (clips prepared in {prepared_s:.1f} s); "
        f"targets met: {summary['meets_targets']}"
    )
    return 0 if summary["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
