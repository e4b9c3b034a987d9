"""Anomaly-path accuracy on labelled clips: enroll on each clip's normal part, score every frame with
the exported ONNX model in ONNX Runtime, turn scores into events, compare with the ground truth.

Event rule (the anomaly rule of the rule engine): an event starts when the score is at or above the
model's threshold for ``min_frames`` consecutive frames, and ends after ``end_after_s`` below it.
A predicted event is a true positive when it overlaps a ground-truth interval (widened by
``TOLERANCE_S`` at the end, for the last frames of an object leaving); a ground-truth event is
detected when some predicted event overlaps it. Delay = predicted start - ground-truth start.

Usage::

    .venv/bin/python bench/accuracy.py [--quick] [--out bench/results/accuracy.json]

Per-frame scoring is the one function ``score_frames``; the full pipeline (cameras -> models ->
rules) can replace it without touching the metrics.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from clips import Clip, ClipSpec, Interval, clip_set  # type: ignore[import-not-found]

from gateway.enroll import enroll_frames
from gateway.inference.model_config import load_model_config

MIN_FRAMES = 3
END_AFTER_S = 1.0
TOLERANCE_S = 1.0
BATCH = 32
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.95


def score_frames(
    session: ort.InferenceSession, frames: Iterable[npt.NDArray[np.uint8]]
) -> npt.NDArray[np.float32]:
    """The per-frame scoring step: frames -> anomaly score per frame (0..1)."""
    scores: list[npt.NDArray[np.float32]] = []
    batch: list[npt.NDArray[np.uint8]] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == BATCH:
            scores.append(session.run(["score"], {"frame": np.stack(batch)})[0])
            batch = []
    if batch:
        scores.append(session.run(["score"], {"frame": np.stack(batch)})[0])
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


def events_from_scores(
    scores: Sequence[float], threshold: float, min_frames: int, end_after: int
) -> list[Interval]:
    """The anomaly rule: start after min_frames consecutive hits, end after end_after misses."""
    events: list[Interval] = []
    run = 0
    start: int | None = None
    last_hit = -1
    for index, score in enumerate(scores):
        hit = score >= threshold
        run = run + 1 if hit else 0
        if hit:
            last_hit = index
        if start is None and run >= min_frames:
            start = index
        elif start is not None and index - last_hit >= end_after:
            events.append(Interval(start, last_hit))
            start = None
    if start is not None:
        events.append(Interval(start, last_hit))
    return events


@dataclass(frozen=True, slots=True)
class ClipResult:
    clip: str
    frames: int
    fps: float
    ground_truth: int
    predicted: int
    true_positives: int
    detected: int
    false_alerts: int
    normal_frames: int
    """Evaluated frames farther than the tolerance from every ground-truth interval."""
    normal_frames_flagged: int
    """Of those, frames at or above the threshold (what min_frames and the event merge hide)."""
    precision: float
    recall: float
    delay_mean_s: float | None
    delay_max_s: float | None
    raw_threshold: float
    seconds: float


def evaluate_clip(spec: ClipSpec, workdir: Path) -> ClipResult:
    began = time.perf_counter()
    clip = Clip(spec)
    enrolled = enroll_frames(
        clip.frames(0, spec.enroll_frames),
        camera_id=spec.name,
        repository=workdir,
        progress=None,
    )
    config = load_model_config(enrolled.model_yaml)
    threshold = config.postprocess.threshold
    assert threshold is not None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(enrolled.model_path), options, providers=["CPUExecutionProvider"])
    scores = score_frames(session, clip.frames(spec.enroll_frames))
    offset = spec.enroll_frames
    predicted = [
        Interval(event.start + offset, event.end + offset)
        for event in events_from_scores(
            scores.tolist(), threshold, MIN_FRAMES, max(1, round(END_AFTER_S * spec.fps))
        )
    ]
    truth = list(clip.events)
    tolerance = round(TOLERANCE_S * spec.fps)

    def overlaps(event: Interval, interval: Interval) -> bool:
        return bool(event.start <= interval.end + tolerance and event.end >= interval.start)

    normal = np.ones(spec.frame_count, dtype=bool)
    normal[: spec.enroll_frames] = False
    for gt in truth:
        normal[max(0, gt.start - tolerance) : gt.end + tolerance + 1] = False
    flagged = np.zeros(spec.frame_count, dtype=bool)
    flagged[offset:] = scores >= threshold
    true_positives = sum(1 for event in predicted if any(overlaps(event, gt) for gt in truth))
    delays = []
    for gt in truth:
        matches = [event for event in predicted if overlaps(event, gt)]
        if matches:
            delays.append(max(0.0, (min(event.start for event in matches) - gt.start) / spec.fps))
    precision = true_positives / len(predicted) if predicted else 1.0
    recall = len(delays) / len(truth) if truth else 1.0
    return ClipResult(
        clip=spec.name,
        frames=spec.frame_count,
        fps=spec.fps,
        ground_truth=len(truth),
        predicted=len(predicted),
        true_positives=true_positives,
        detected=len(delays),
        false_alerts=len(predicted) - true_positives,
        normal_frames=int(normal.sum()),
        normal_frames_flagged=int((flagged & normal).sum()),
        precision=precision,
        recall=recall,
        delay_mean_s=float(np.mean(delays)) if delays else None,
        delay_max_s=float(np.max(delays)) if delays else None,
        raw_threshold=enrolled.raw_threshold,
        seconds=time.perf_counter() - began,
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
        "normal_frames": sum(result.normal_frames for result in results),
        "normal_frames_flagged": sum(result.normal_frames_flagged for result in results),
        "meets_targets": precision >= TARGET_PRECISION
        and recall >= TARGET_RECALL
        and drift_false_alerts == 0,
    }


def markdown(results: Sequence[ClipResult], summary: dict[str, object]) -> str:
    lines = [
        "| clip | frames | events | predicted | precision | recall | mean delay s | max delay s "
        "| false alerts | flagged normal frames |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        mean = "-" if result.delay_mean_s is None else f"{result.delay_mean_s:.2f}"
        worst = "-" if result.delay_max_s is None else f"{result.delay_max_s:.2f}"
        lines.append(
            f"| {result.clip} | {result.frames} | {result.ground_truth} | {result.predicted} | "
            f"{result.precision:.3f} | {result.recall:.3f} | {mean} | {worst} | {result.false_alerts} | "
            f"{result.normal_frames_flagged}/{result.normal_frames} |"
        )
    delay = summary["delay_mean_s"]
    lines.append(
        f"| **all event clips** | | {summary['ground_truth_events']} | {summary['predicted_events']} | "
        f"{summary['precision']:.3f} | {summary['recall']:.3f} | "
        f"{'-' if delay is None else f'{delay:.2f}'} | | drift clip: {summary['drift_false_alerts']} | "
        f"{summary['normal_frames_flagged']}/{summary['normal_frames']} |"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short clip set for CI (~1 minute)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "accuracy.json"
    )
    arguments = parser.parse_args(argv)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accuracy-") as workdir:
        results = [evaluate_clip(spec, Path(workdir)) for spec in clip_set(arguments.quick)]
    summary = summarise(results)
    document = {
        "benchmark": "accuracy",
        "mode": "quick" if arguments.quick else "full",
        "rule": {"min_frames": MIN_FRAMES, "end_after_s": END_AFTER_S, "tolerance_s": TOLERANCE_S},
        "targets": {"precision": TARGET_PRECISION, "recall": TARGET_RECALL, "drift_false_alerts": 0},
        "summary": summary,
        "clips": [asdict(result) for result in results],
        "seconds": time.perf_counter() - began,
        "machine": {
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "cpu": platform.machine(),
        },
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(document, indent=2) + "\n")
    print(markdown(results, summary))
    print(
        f"\nwritten {arguments.out} in {document['seconds']:.1f} s; targets met: {summary['meets_targets']}"
    )
    return 0 if summary["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
