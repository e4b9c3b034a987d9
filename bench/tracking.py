"""Tracking benchmark: generated clips with ground-truth tracks through the gateway's real path.

Each clip (``bench/tracking_clips.py``: six scenes x seeds) is written as a lossless video (FFV1)
and played as a file camera, in real time at 10 fps, through the gateway's own parts wired as
``gateway.pipeline`` wires them: ``CameraPipeline`` (reader thread, sampler at ``detect_fps``) ->
``InferenceService`` (repository, batcher, worker pool; the shipped face-detector, a real pretrained
YOLOv8n) -> a ``gateway.tracking.Tracker`` per camera, fed in capture order with each frame's
capture time (results that arrive after a newer frame's are dropped, as the decider does) -> an
optional rules stage. The sampler takes frames at ``detect_fps`` = 5 from a 10 fps clip, on its own
clock, so the tracker sees the real, uneven time steps, with frames skipped now and then.

Scored per clip (``bench/tracking_metrics.py``, py-motmetrics): MOTA, IDF1, ID switches per 100
track-frames, on the frames the tracker saw; plus the detector's own recall, so a miss can be told
from a tracking error. ``bench/tracking_truth.py`` gives each clip's rule truth (crossings by
direction, loiter, count, stationary intervals), written with the results for a rules stage.

Hold-out: the tracker's knobs were tuned on seed 0 only (``TUNING_SEEDS``); seeds 1 and 2 were not
looked at until the knobs were fixed, and are reported first. ``--quick`` (CI) plays three scenes
of seed 1, one clip at a time.

Load: clips play one at a time (``--parallel``), each needing detect_fps (5) model runs a second,
so the tracker sees the time steps it would on a box with capacity to spare (``tracked/frames``:
150 of 300 is every sampled frame). On 2 cores shared with other work (load average 6..11), two
clips at a time already lost a third of the frames, and three at a time more than half: longer,
less even steps, which is what an overloaded box does, and what makes ids harder to keep (0.64 ID
switches per 100 track-frames on the hold-out at two at a time, 1.5 on the quick set at three).

Usage::

    .venv/bin/python bench/tracking.py [--quick] [--out bench/results/tracking.json]

writes the JSON and a markdown table next to it (tracking.md). Exit status 1 if the hold-out misses
the target (ID switches <= 1 per 100 track-frames).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import onnxruntime as ort
from prometheus_client import CollectorRegistry

BENCH = Path(__file__).resolve().parent
# Run as a script, bench/ comes first on sys.path, where bench/tensorrt.py would shadow TensorRT.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from bench.tracking_clips import Clip, ClipSpec, write_video  # noqa: E402
from bench.tracking_metrics import TruthBox, score  # noqa: E402
from bench.tracking_report import (  # noqa: E402
    TARGET_SWITCHES_PER_100,
    ClipResult,
    markdown,
    summarise,
    truth_markdown,
)
from bench.tracking_scenes import SCENES, scene  # noqa: E402
from bench.tracking_truth import rule_truth  # noqa: E402
from gateway.config import GatewayConfig  # noqa: E402
from gateway.domain import AlertEvent, Detection, DetectOutput, Frame, FrameResult, ModelReference  # noqa: E402
from gateway.errors import OverloadedError  # noqa: E402
from gateway.inference.service import InferenceService  # noqa: E402
from gateway.ingest.cameras import CameraPipeline  # noqa: E402
from gateway.tracking import Tracker, TrackerSpec  # noqa: E402

MODEL = "face-detector"
DETECT_FPS = 5.0
TUNING_SEEDS = (0,)
HOLD_OUT_SEEDS = (1, 2)
QUICK_SCENES = ("crossing", "pole", "crowd")
"""The hardest for ids: two objects crossing each other, an occlusion, five people close together."""
SETTLE_S = 1.0

RulesStage = Callable[[ClipSpec], Callable[[FrameResult], Sequence[AlertEvent]]]
"""Given a clip (its line, zone and rule parameters), a function called with each frame's result
(tracks and tracked detections set, as the decider hands it to the rules) returning rule events."""


@dataclass(frozen=True, slots=True)
class PreparedClip:
    spec: ClipSpec
    video: Path


def prepare(spec: ClipSpec, directory: Path) -> PreparedClip:
    """Write the clip's video (runs in a worker process)."""
    video = directory / f"{spec.name}.mkv"
    write_video(Clip(spec), video)
    return PreparedClip(spec, video)


@dataclass(frozen=True, slots=True)
class TrackedFrame:
    seq: int
    """1-based position in the video: clip frame index = seq - 1."""
    captured_at: float
    detections: tuple[Detection, ...]
    """As the tracker returned them (track ids set)."""
    raw: tuple[Detection, ...]
    """As the detector returned them (for ``--detections``: replaying them through other trackers)."""
    tracker_cpu_s: float


@dataclass(slots=True)
class _Camera:
    spec: ClipSpec
    tracker: Tracker
    rules: Callable[[FrameResult], Sequence[AlertEvent]] | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_captured_at: float = float("-inf")
    late: int = 0
    frames: list[TrackedFrame] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)


class Recorder:
    """Between the camera half and the rules, as the gateway's decider: drops late results, runs the
    camera's tracker (and rules stage) in capture order, records what it saw."""

    def __init__(
        self,
        inference: InferenceService,
        clips: Sequence[PreparedClip],
        spec: TrackerSpec,
        rules: RulesStage | None,
    ) -> None:
        self._inference = inference
        self.cameras = {
            clip.spec.name: _Camera(clip.spec, Tracker(spec), rules(clip.spec) if rules else None)
            for clip in clips
        }

    def detect(self, reference: ModelReference, frame: Frame, deadline: float | None) -> Future[DetectOutput]:
        if frame.seq > self.cameras[frame.camera_id].spec.frame_count:
            raise OverloadedError("clip already played to its end")
        return self._inference.submit_frame(reference, frame.image, deadline)

    def sink(self, frame: Frame, result: FrameResult) -> None:
        camera = self.cameras[frame.camera_id]
        with camera.lock:
            if frame.captured_at < camera.last_captured_at:
                camera.late += 1
                return
            camera.last_captured_at = frame.captured_at
            began = time.thread_time()
            output = camera.tracker.update(frame.captured_at, result.detections)
            spent = time.thread_time() - began
            camera.frames.append(
                TrackedFrame(frame.seq, frame.captured_at, output.detections, result.detections, spent)
            )
            if camera.rules is not None:
                tracked = FrameResult(
                    camera_id=result.camera_id,
                    frame_seq=result.frame_seq,
                    captured_at=result.captured_at,
                    model=result.model,
                    detections=output.detections,
                    completed_at=result.completed_at,
                    tracks=output.tracks,
                )
                camera.events += camera.rules(tracked)


def gateway_config(clips: Sequence[PreparedClip], workdir: Path) -> GatewayConfig:
    cameras = [
        {
            "id": clip.spec.name,
            "url": str(clip.video),
            "detect_fps": DETECT_FPS,
            "model": MODEL,
            "motion": {"enabled": False},
        }
        for clip in clips
    ]
    return GatewayConfig.model_validate(
        {
            "device_id": "tracking",
            "state_dir": str(workdir / "state"),
            "models": {"repository": str(BENCH.parent / "models")},
            "cameras": cameras,
        }
    )


def play(
    clips: Sequence[PreparedClip], workdir: Path, spec: TrackerSpec, rules: RulesStage | None
) -> tuple[Recorder, dict[str, dict[str, int]]]:
    """Play the clips at once through the pipeline; the records and each camera's drop counts."""
    config = gateway_config(clips, workdir)
    registry = CollectorRegistry()
    inference = InferenceService.from_config(config, registry)
    recorder = Recorder(inference, clips, spec, rules)
    cameras = CameraPipeline(config.cameras, recorder.detect, recorder.sink, registry)
    inference.start()
    try:
        cameras.start()
        longest = max(clip.spec.duration_s for clip in clips)
        give_up = time.monotonic() + 1.5 * longest + 30.0
        while time.monotonic() < give_up and any(
            cameras.frames_in(clip.spec.name) <= clip.spec.frame_count for clip in clips
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
    return recorder, drops


def evaluate(clip: Clip, camera: _Camera, drops: dict[str, int], hold_out: bool) -> ClipResult:
    frames = sorted(camera.frames, key=lambda frame: frame.seq)
    numbers = {mover.name: number for number, mover in enumerate(clip.spec.movers)}
    judged = [
        (
            frame.seq,
            [TruthBox(numbers[item.mover], item.box, item.visibility) for item in clip.truth(frame.seq - 1)],
            frame.detections,
        )
        for frame in frames
    ]
    result = score(judged)
    cpu = [frame.tracker_cpu_s for frame in frames]
    return ClipResult(
        clip=clip.spec.name,
        scene=clip.spec.scene,
        seed=int(clip.spec.name.rsplit("-", 1)[1]),
        hold_out=hold_out,
        frames=clip.spec.frame_count,
        tracked_frames=len(frames),
        late_results=camera.late,
        drops=drops,
        score=result,
        switches_per_100=result.switches_per_100,
        tracker_cpu_ms_mean=1000 * sum(cpu) / len(cpu) if cpu else 0.0,
        truth=rule_truth(clip.spec).as_json(),
        events=[_event_json(event) for event in camera.events],
    )


def _event_json(event: AlertEvent) -> dict[str, object]:
    return {
        "kind": event.kind.value,
        "rule": event.rule,
        "track_id": event.track_id,
        "direction": event.direction.value if event.direction else None,
        "count": event.count,
        "frame_ts": event.frame_ts,
    }


DetectionLog = dict[str, list[dict[str, object]]]
"""Per clip: each judged frame's ``seq``, ``captured_at`` and raw ``detections`` as
``[label, score, x1, y1, x2, y2]`` rows."""


def _log(camera: _Camera) -> list[dict[str, object]]:
    return [
        {
            "seq": frame.seq,
            "captured_at": frame.captured_at,
            "detections": [
                [d.label, round(d.score, 4), *(round(value, 5) for value in d.box)]
                for d in frame.raw
                if d.box is not None
            ],
        }
        for frame in camera.frames
    ]


def run(
    specs: Sequence[ClipSpec], parallel: int, tracker: TrackerSpec, rules: RulesStage | None = None
) -> tuple[list[ClipResult], DetectionLog]:
    results: list[ClipResult] = []
    log: DetectionLog = {}
    with tempfile.TemporaryDirectory(prefix="tracking-") as directory:
        workdir = Path(directory)
        with ProcessPoolExecutor(max_workers=2) as pool:
            clips = list(pool.map(prepare, specs, [workdir] * len(specs)))
        for start in range(0, len(clips), parallel):
            group = clips[start : start + parallel]
            recorder, drops = play(group, workdir, tracker, rules)
            for clip in group:
                camera = recorder.cameras[clip.spec.name]
                hold_out = int(clip.spec.name.rsplit("-", 1)[1]) not in TUNING_SEEDS
                results.append(evaluate(Clip(clip.spec), camera, drops.get(clip.spec.name, {}), hold_out))
                log[clip.spec.name] = _log(camera)
    return results, log


def main(argv: Sequence[str] | None = None, rules: RulesStage | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"hold-out seed 1, scenes {', '.join(QUICK_SCENES)}, one at a time (for CI, about 2 minutes)",
    )
    parser.add_argument("--seeds", type=int, nargs="*", help="seeds to play (default: tuning and hold-out)")
    parser.add_argument(
        "--parallel", type=int, default=1, help="clips played at once (more lose frames on a small box)"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "tracking.json")
    parser.add_argument(
        "--detections",
        type=Path,
        help="also write every judged frame's raw detections here (JSON), to replay",
    )
    arguments = parser.parse_args(argv)
    seeds = arguments.seeds or ([1] if arguments.quick else [*HOLD_OUT_SEEDS, *TUNING_SEEDS])
    parallel = arguments.parallel
    specs = [scene(name, seed) for seed in seeds for name in (QUICK_SCENES if arguments.quick else SCENES)]
    began = time.perf_counter()
    load_before = os.getloadavg()
    tracker = TrackerSpec()
    results, log = run(specs, parallel, tracker, rules)
    if arguments.detections is not None:
        arguments.detections.write_text(json.dumps(log) + "\n")
    summary = summarise(results)
    load_after = os.getloadavg()
    document = {
        "benchmark": "tracking",
        "mode": "quick" if arguments.quick else "full",
        "method": "file cameras (FFV1 clips, 10 fps) -> CameraPipeline (detect_fps 5) -> InferenceService "
        f"({MODEL}) -> Tracker per camera, {parallel} clips at once",
        "tracker": asdict(tracker),
        "targets": {"switches_per_100": TARGET_SWITCHES_PER_100},
        "summary": summary,
        "clips": [asdict(result) for result in results],
        "seconds": time.perf_counter() - began,
        "load_average": {"before": load_before, "after": load_after},
        "machine": {
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "cpu": platform.machine(),
        },
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(document, indent=2) + "\n")
    table = markdown(results, summary)
    command = "bench/tracking.py" + (" --quick" if arguments.quick else "")
    load = ", ".join(f"{value:.2f}" for value in load_after)
    arguments.out.with_suffix(".md").write_text(
        f"# Tracking through the pipeline ({document['mode']})\n\n"
        f"`.venv/bin/python {command}`: {document['method']}; {document['seconds']:.0f} s, load average "
        f"after {load}. Tracker knobs tuned on seed(s) {', '.join(map(str, TUNING_SEEDS))} only; "
        "hold-out first.\n\n"
        f"{table}\n\nRule truth per clip (`truth` in the JSON), for a rules stage:\n\n"
        f"{truth_markdown(results)}\n"
    )
    print(table)
    print(f"\nwritten {arguments.out} in {document['seconds']:.1f} s; target met: {summary['meets_target']}")
    return 0 if summary["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
