"""Our tracker against alternatives: CPU per frame at 0/5/20/50 objects, and ID switches on replayed
detections of the tracking benchmark.

1. CPU: a synthetic camera with N objects walking at constant velocity with noisy boxes (a detector's
   jitter), 5 % of detections missed, frames 0.2 s apart (detect_fps 5) with some skipped; the
   process CPU time of ``update`` per frame, after a warm-up, one thread. This is the CPU benchmark
   of the tracker (target: <= 0.5 ms per frame at 20 objects).
2. Replay (``--detections FILE``, written by ``bench/tracking.py --detections``): every judged
   frame's raw face-detector output, with its capture time, through each tracker, scored like the
   benchmark (``bench/tracking_metrics.py``). Same detections for every tracker, so differences are
   the tracker's alone.

Trackers: ``ours`` (``gateway.tracking.Tracker``, greedy assignment), ``ours-scipy`` (the same with
``scipy.optimize.linear_sum_assignment``, when scipy is installed), and Roboflow's ``trackers``
ByteTrack (the successor of ``supervision``'s ByteTrack) when it is installed, with its defaults and
with our score thresholds. ``trackers`` is not a dependency (see ``gateway/tracking/tracker.py`` for
why); to include it, use a throwaway venv: ``python -m venv compare-venv && compare-venv/bin/pip
install trackers motmetrics`` (numpy, OpenCV and scipy come with them) and run this script with
that venv's python from the repository root.

Usage: ``.venv/bin/python bench/tracking_compare.py [--detections FILE]`` -> bench/results/
tracking-compare.json + .md
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from bench.tracking_clips import Clip  # noqa: E402
from bench.tracking_metrics import MotScore, TruthBox, score  # noqa: E402
from bench.tracking_scenes import scene  # noqa: E402
from gateway.domain import Detection  # noqa: E402
from gateway.tracking import Tracker, TrackerSpec  # noqa: E402
from gateway.tracking.association import Pairs  # noqa: E402

Update = Callable[[float, Sequence[Detection]], tuple[Detection, ...]]
"""(capture time, detections) -> the detections with track ids."""
OBJECT_COUNTS = (0, 5, 20, 50)
FRAMES = 600


def scipy_assign(similarity: np.ndarray[Any, Any], floor: float) -> Pairs:
    from scipy.optimize import linear_sum_assignment  # noqa: PLC0415 - optional, measured only

    rows, columns = linear_sum_assignment(similarity, maximize=True)
    keep = similarity[rows, columns] >= floor
    return rows[keep].astype(np.intp), columns[keep].astype(np.intp)


def ours(spec: TrackerSpec | None = None, assign: str = "greedy") -> Update:
    tracker = (
        Tracker(spec or TrackerSpec())
        if assign == "greedy"
        else Tracker(spec or TrackerSpec(), assign=scipy_assign)
    )

    def update(timestamp: float, detections: Sequence[Detection]) -> tuple[Detection, ...]:
        return tracker.update(timestamp, detections).detections

    return update


def library(high: float | None = None) -> Update:
    """Roboflow ``trackers``' ByteTrack; ``high``: our score thresholds instead of its defaults."""
    import supervision  # noqa: PLC0415 - optional, measured only
    from trackers import ByteTrackTracker  # noqa: PLC0415

    options: dict[str, Any] = {"lost_track_buffer": 30, "frame_rate": 30.0, "minimum_consecutive_frames": 2}
    if high is not None:
        spec = TrackerSpec()
        options |= {
            "track_activation_threshold": spec.new_track_score,
            "high_conf_det_threshold": spec.high_score,
            "minimum_iou_threshold": spec.match_iou,
        }
    tracker = ByteTrackTracker(**options)

    def update(timestamp: float, detections: Sequence[Detection]) -> tuple[Detection, ...]:
        boxed = [detection for detection in detections if detection.box is not None]
        if not boxed:
            tracker.update(supervision.Detections.empty(), timestamp=timestamp)
            return tuple(detections)
        given = supervision.Detections(
            xyxy=np.array([detection.box for detection in boxed], dtype=np.float64),
            confidence=np.array([detection.score for detection in boxed], dtype=np.float64),
            class_id=np.zeros(len(boxed), dtype=int),
        )
        result = tracker.update(given, timestamp=timestamp)
        ids = {
            tuple(box): int(track_id)
            for box, track_id in zip(result.xyxy.tolist(), result.tracker_id, strict=True)
        }
        return tuple(
            Detection(d.label, d.score, d.box, ids.get(tuple(d.box), -1) if d.box is not None else None)
            if d.box is not None and ids.get(tuple(d.box), -1) >= 0
            else Detection(d.label, d.score, d.box, None)
            for d in detections
        )

    return update


def candidates() -> dict[str, Callable[[], Update]]:
    found: dict[str, Callable[[], Update]] = {"ours": ours}
    if importlib.util.find_spec("scipy") is not None:
        found["ours-scipy"] = lambda: ours(assign="scipy")
    if importlib.util.find_spec("trackers") is not None:
        found["trackers-bytetrack-defaults"] = library
        found["trackers-bytetrack-our-thresholds"] = lambda: library(high=0.5)
    return found


def synthetic(count: int, seed: int = 5) -> list[tuple[float, list[Detection]]]:
    rng = np.random.default_rng(seed)
    size = np.column_stack([rng.uniform(0.04, 0.1, count), rng.uniform(0.08, 0.18, count)])
    start = rng.uniform(0.0, 0.85, (count, 2))
    velocity = rng.normal(0.0, 0.05, (count, 2))
    frames, t = [], 0.0
    for _ in range(FRAMES):
        t += 0.2 if rng.random() > 0.1 else 0.4
        corner = (start + velocity * t) % 0.85
        jitter = rng.normal(0.0, 0.004, (count, 4))
        boxes = np.column_stack([corner, corner + size]) + jitter
        seen = rng.random(count) > 0.05
        frames.append(
            (
                t,
                [
                    Detection(
                        "face",
                        float(rng.uniform(0.4, 0.9)),
                        (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                    )
                    for b, visible in zip(boxes, seen, strict=True)
                    if visible
                ],
            )
        )
    return frames


def cpu_per_frame(make: Callable[[], Update], count: int) -> float:
    frames = synthetic(count)
    update = make()
    for timestamp, detections in frames[:50]:
        update(timestamp, detections)
    began = time.process_time()
    for timestamp, detections in frames[50:]:
        update(timestamp, detections)
    return (time.process_time() - began) / (len(frames) - 50)


def replay(make: Callable[[], Update], log: dict[str, list[dict[str, Any]]]) -> dict[str, MotScore]:
    scores = {}
    for clip_name, frames in log.items():
        name, seed = clip_name.rsplit("-", 1)
        clip = Clip(scene(name, int(seed)))
        numbers = {mover.name: number for number, mover in enumerate(clip.spec.movers)}
        update = make()
        judged = []
        for frame in frames:
            detections = [Detection(row[0], row[1], tuple(row[2:6])) for row in frame["detections"]]
            tracked = update(frame["captured_at"], detections)
            truth = [
                TruthBox(numbers[item.mover], item.box, item.visibility)
                for item in clip.truth(frame["seq"] - 1)
            ]
            judged.append((frame["seq"], truth, tracked))
        scores[clip_name] = score(judged)
    return scores


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--detections", type=Path, help="raw detections written by bench/tracking.py --detections"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "tracking-compare.json")
    arguments = parser.parse_args(argv)
    trackers = candidates()
    cpu = {
        name: {str(count): 1000 * cpu_per_frame(make, count) for count in OBJECT_COUNTS}
        for name, make in trackers.items()
    }
    replayed: dict[str, dict[str, Any]] = {}
    if arguments.detections is not None:
        log = json.loads(arguments.detections.read_text())
        for name, make in trackers.items():
            scores = replay(make, log)
            boxes = sum(item.truth_boxes for item in scores.values())
            switches = sum(item.id_switches for item in scores.values())
            errors = sum(item.misses + item.false_positives + item.id_switches for item in scores.values())
            replayed[name] = {
                "clips": len(scores),
                "truth_boxes": boxes,
                "id_switches": switches,
                "switches_per_100": 100.0 * switches / boxes if boxes else 0.0,
                "mota": 1.0 - errors / boxes if boxes else 0.0,
                "idf1_mean": sum(item.idf1 for item in scores.values()) / len(scores) if scores else 0.0,
                "per_clip_switches": {clip: item.id_switches for clip, item in scores.items()},
            }
    versions = {name: _version(name) for name in ("numpy", "scipy", "trackers", "supervision")}
    document = {
        "benchmark": "tracking-compare",
        "cpu_ms_per_frame": cpu,
        "replay": replayed,
        "detections": arguments.detections.name if arguments.detections else None,
        "load_average": os.getloadavg(),
        "machine": {"python": platform.python_version(), "cpu": platform.machine(), "numpy": np.__version__},
        "versions": versions,
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(document, indent=2) + "\n")
    lines = [
        "# Tracker comparison",
        "",
        f"`bench/tracking_compare.py`; load average "
        f"{', '.join(f'{value:.2f}' for value in os.getloadavg())}; "
        + ", ".join(f"{name} {version}" for name, version in versions.items() if version)
        + ".",
        "",
        "CPU per frame (ms, one thread, process time):",
        "",
        "| tracker | " + " | ".join(f"{count} objects" for count in OBJECT_COUNTS) + " |",
        "|---|" + "---|" * len(OBJECT_COUNTS),
    ]
    lines += [
        f"| {name} | " + " | ".join(f"{row[str(count)]:.3f}" for count in OBJECT_COUNTS) + " |"
        for name, row in cpu.items()
    ]
    if replayed:
        lines += [
            "",
            f"Replayed face-detector output ({arguments.detections.name if arguments.detections else ''}):",
            "",
            "| tracker | clips | truth boxes | ID switches | per 100 | MOTA | IDF1 (mean) |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {name} | {row['clips']} | {row['truth_boxes']} | {row['id_switches']} "
            f"| {row['switches_per_100']:.2f} | {row['mota']:.3f} | {row['idf1_mean']:.3f} |"
            for name, row in replayed.items()
        ]
    arguments.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
