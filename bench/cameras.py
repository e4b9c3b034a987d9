"""Camera benchmark: K cameras through the camera pipeline into the real InferenceService.

Phases, all in one run on the same machine, every network stream on 127.0.0.1:

1. capacity: frames/s the InferenceService gives a closed loop of camera-sized frames (preprocess,
   batcher, pool, postprocess: the path camera frames take) -> the model's raw capacity here;
2. load sweep: K file cameras (a 25 fps 640x360 moving clip, looped) with K x detect_fps set to a
   fraction of that capacity (0.25 .. 3x): processed frames/s, capture-to-result latency p50/p99,
   drops by reason. At 3x the pipeline must stay bounded: oldest frames dropped, latency flat;
3. the same at 0.5x and 3x with the cameras reading the real RTSP server (gst-rtsp-server, H.264);
4. motion gating: K file cameras on a static scene, process CPU time with gating on, with gating
   off (model on every sampled frame) and with no model at all (decode only) -> the CPU share.

Writes bench/results/cameras.json, bench/results/cameras.png (latency vs load) and prints a markdown
table. Run: ``.venv/bin/python bench/cameras.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.config import CameraConfig, GatewayConfig  # noqa: E402
from gateway.domain import DetectOutput, Frame, FrameResult, ModelReference  # noqa: E402
from gateway.errors import OverloadedError  # noqa: E402
from gateway.inference.service import InferenceService  # noqa: E402
from gateway.ingest.cameras import CameraPipeline  # noqa: E402
from tests.support import clips  # noqa: E402
from tests.support.rtsp_server import RtspServer  # noqa: E402

WIDTH, HEIGHT = 640, 360
WARMUP_S = 3.0
CHECK_S = 3.0  # capacity is measured again right before each run: the cores are shared
MAX_DETECT_FPS = 10.0  # cameras run at typical detect rates; more load means more cameras


def percentile(samples: Sequence[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Collector:
    """The result sink: capture-to-result latency of every result inside the measuring window."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.measuring = False
        self._lock = threading.Lock()

    def __call__(self, frame: Frame, result: FrameResult) -> None:
        if self.measuring:
            with self._lock:
                self.latencies.append(result.completed_at - frame.monotonic_at)


def service_for(model: str, workers: int | None, state_dir: Path) -> InferenceService:
    inference: dict[str, Any] = {"providers": ["cpu"]}
    if workers is not None:
        inference["workers"] = workers
    config = GatewayConfig.model_validate(
        {
            "device_id": "bench",
            "state_dir": state_dir,
            "models": {"repository": ROOT / "models"},
            "inference": inference,
        }
    )
    service = InferenceService.from_config(config, CollectorRegistry())
    service.start()
    if not any(status.name == model and status.state.value == "ready" for status in service.models()):
        service.stop()
        raise SystemExit(f"model {model} is not ready in {ROOT / 'models'}: run build/build_models.py")
    return service


def measure_capacity(
    service: InferenceService, model: str, seconds: float, outstanding: int
) -> dict[str, Any]:
    """Closed loop: keep ``outstanding`` frames in the service, count completions per second."""
    image = clips.moving_clip(length=2, width=WIDTH, height=HEIGHT)[0]
    done = threading.Semaphore(0)
    completed: list[float] = []

    def finished(_future: Future[DetectOutput]) -> None:
        completed.append(time.monotonic())
        done.release()

    def submit() -> None:
        while True:
            try:
                service.submit_frame(ModelReference.parse(model), image, None).add_done_callback(finished)
                return
            except OverloadedError:
                time.sleep(0.001)

    for _ in range(outstanding):
        submit()
    warm_until = time.monotonic() + 1.0
    end = warm_until + seconds
    while time.monotonic() < end:
        done.acquire()
        submit()
    for _ in range(outstanding):
        done.acquire()
    window = [moment for moment in completed if warm_until <= moment <= end]
    return {"frames_per_s": len(window) / seconds, "outstanding": outstanding, "seconds": seconds}


def run_cameras(
    urls: Sequence[str],
    *,
    detect_fps: float,
    service: InferenceService | None,
    model: str | None,
    seconds: float,
    motion: bool,
    max_pending: int | None = None,
) -> dict[str, Any]:
    configs = [
        CameraConfig.model_validate(
            {
                "id": f"cam{index}",
                "url": url,
                "model": model,
                "detect_fps": detect_fps,
                "motion": {"enabled": motion},
                "read_timeout_s": 3.0,
            }
        )
        for index, url in enumerate(urls)
    ]
    collector = Collector()

    def detect(reference: ModelReference, frame: Frame, deadline: float | None) -> Future[DetectOutput]:
        assert service is not None
        return service.submit_frame(reference, frame.image, deadline)

    pipeline = CameraPipeline(configs, detect, collector, CollectorRegistry(), max_pending=max_pending)
    pipeline.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(
            s.state.value == "streaming" for s in pipeline.cameras()
        ):
            time.sleep(0.05)
        # Warm-up past the motion hold (2 s) that follows every camera's first frame.
        time.sleep(WARMUP_S)
        before = {status.camera_id: status for status in pipeline.cameras()}
        processed_before = {config.id: pipeline.processed(config.id) for config in configs}
        frames_before = {config.id: pipeline.frames_in(config.id) for config in configs}
        collector.measuring = True
        cpu_start, wall_start = cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        cpu_used, wall = cpu_seconds() - cpu_start, time.monotonic() - wall_start
        collector.measuring = False
        after = {status.camera_id: status for status in pipeline.cameras()}
        processed = sum(pipeline.processed(config.id) - processed_before[config.id] for config in configs)
        frames_in = sum(pipeline.frames_in(config.id) - frames_before[config.id] for config in configs)
    finally:
        stopped = pipeline.stop()
    drops: dict[str, int] = {}
    for camera_id, status in after.items():
        for reason, count in status.drops.items():
            drops[reason] = drops.get(reason, 0) + count - before[camera_id].drops.get(reason, 0)
    latencies = collector.latencies
    return {
        "cameras": len(urls),
        "max_pending": max_pending,
        "detect_fps": detect_fps,
        "offered_fps": len(urls) * detect_fps,
        "seconds": round(wall, 2),
        "decoded_fps": frames_in / wall,
        "processed_fps": processed / wall,
        "latency_ms": {
            "p50": percentile(latencies, 0.5) * 1000,
            "p99": percentile(latencies, 0.99) * 1000,
            "max": max(latencies, default=float("nan")) * 1000,
            "count": len(latencies),
        },
        "drops": {reason: count for reason, count in sorted(drops.items()) if count},
        "cpu_s": cpu_used,
        "cpu_cores": cpu_used / wall,
        "stopped_cleanly": stopped,
    }


def plan(load: float, capacity: float) -> tuple[int, float]:
    """Cameras and detect_fps that offer ``load`` x capacity, no camera above MAX_DETECT_FPS."""
    offered = load * capacity
    cameras = max(1, math.ceil(offered / MAX_DETECT_FPS))
    return cameras, round(offered / cameras, 2)


def markdown(result: dict[str, Any]) -> str:
    capacity = result["capacity"]["frames_per_s"]
    lines = [
        f"Model `{result['model']}` on {result['machine']}; capacity {capacity:.1f} frames/s at the start, "
        f"{result['capacity_after']['frames_per_s']:.1f} at the end (InferenceService, closed loop). "
        f"Command: `{result['command']}`. Load average (1 min) {result['load_average']['start'][0]:.1f} "
        f"at the start, {result['load_average']['end'][0]:.1f} at the end: other jobs share the cores.",
        "",
        "| source | load | cameras x detect_fps | offered fps | capacity just before | processed fps "
        "| processed / capacity | latency p50 ms | p99 ms | drops (measuring window) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        drops = ", ".join(
            f"{reason} {count}" for reason, count in run["drops"].items() if reason != "superseded"
        )
        lines.append(
            f"| {run['source']} | {run['load']:.2f}x | {run['cameras']} x {run['detect_fps']} "
            f"| {run['offered_fps']:.1f} | {run['capacity_then']:.1f} | {run['processed_fps']:.1f} "
            f"| {run['processed_fps'] / run['capacity_then']:.2f} "
            f"| {run['latency_ms']['p50']:.0f} | {run['latency_ms']['p99']:.0f} | {drops or '-'} |"
        )
    motion = result["motion_gating"]
    lines += [
        "",
        f"Motion gating, {motion['cameras']} static file cameras at {motion['detect_fps']} fps "
        f"({motion['seconds']} s each; capacity just before {motion['capacity_then']:.1f} frames/s, so "
        "the ungated run can serve every sampled frame):",
        "",
        "| run | CPU cores | model runs/s |",
        "|---|---|---|",
        f"| decode only (no model; every frame converted) | {motion['decode_only']['cpu_cores']:.3f} | 0 |",
        f"| gating on (static scene) | {motion['gated']['cpu_cores']:.3f} "
        f"| {motion['gated']['processed_fps']:.2f} |",
        f"| gating off (model on every frame) | {motion['ungated']['cpu_cores']:.3f} "
        f"| {motion['ungated']['processed_fps']:.2f} |",
        "",
        f"Pipeline CPU above decoding, gated vs ungated: {motion['pipeline_share']:.1%}; whole process: "
        f"{motion['total_share']:.1%} (target in DESIGN.md: <= 10%).",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - optional, only for the picture

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(7, 4.5))
    sources = list(dict.fromkeys(run["source"] for run in result["runs"]))
    for source, marker in zip(sources, "os^vD", strict=False):
        runs = [run for run in result["runs"] if run["source"] == source]
        if not runs:
            continue
        loads = [run["load"] for run in runs]
        axis.plot(loads, [run["latency_ms"]["p50"] for run in runs], marker=marker, label=f"{source} p50")
        axis.plot(
            loads, [run["latency_ms"]["p99"] for run in runs], marker=marker, ls="--", label=f"{source} p99"
        )
    axis.set_xlabel("offered load (x model capacity)")
    axis.set_ylabel("capture-to-result latency (ms)")
    axis.set_title(f"Cameras -> {result['model']}: latency vs load")
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="face-detector")
    parser.add_argument("--workers", type=int, default=None, help="inference workers (default: by provider)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring window per run")
    parser.add_argument("--loads", default="0.25,0.5,1,2,3")
    parser.add_argument("--rtsp-loads", default="0.5,3")
    parser.add_argument("--capped-loads", default="1,3", help="file runs again with --max-pending")
    parser.add_argument(
        "--max-pending", type=int, default=4, help="CameraPipeline max_pending for the capped runs"
    )
    parser.add_argument("--motion-cameras", type=int, default=4)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    arguments = parser.parse_args(argv)
    seconds = 2.0 if arguments.quick else arguments.seconds
    loads = [float(value) for value in arguments.loads.split(",") if value]
    rtsp_loads = [float(value) for value in arguments.rtsp_loads.split(",") if value]
    capped_loads = [float(value) for value in arguments.capped_loads.split(",") if value]

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-cameras-") as scratch:
        directory = Path(scratch)
        moving = clips.moving_clip(length=50, width=WIDTH, height=HEIGHT)
        moving_file = clips.write_mp4(moving, directory / "moving.mp4")
        moving_raw = clips.write_raw_i420(moving, directory / "moving.yuv")
        static_file = clips.write_mp4(
            clips.static_clip(length=50, width=WIDTH, height=HEIGHT), directory / "static.mp4"
        )
        service = service_for(arguments.model, arguments.workers, directory / "state")
        runs: list[dict[str, Any]] = []

        def measured(source: str, load: float, urls: Sequence[str], max_pending: int | None = None) -> None:
            cameras, fps = plan(load, capacity["frames_per_s"])
            capacity_then = measure_capacity(service, arguments.model, CHECK_S, outstanding=16)
            run = run_cameras(
                list(urls)[:cameras],
                detect_fps=fps,
                service=service,
                model=arguments.model,
                seconds=seconds,
                motion=True,
                max_pending=max_pending,
            )
            runs.append(
                {"source": source, "load": load, "capacity_then": capacity_then["frames_per_s"], **run}
            )
            print(json.dumps(runs[-1]), flush=True)

        try:
            capacity = measure_capacity(service, arguments.model, seconds, outstanding=16)
            print(f"capacity: {capacity['frames_per_s']:.1f} frames/s", flush=True)
            most = max(
                plan(load, capacity["frames_per_s"])[0] for load in [*loads, *rtsp_loads, *capped_loads]
            )
            files = [str(moving_file)] * most
            for load in loads:
                measured("file", load, files)
            for load in capped_loads:
                measured(f"file, max_pending {arguments.max_pending}", load, files, arguments.max_pending)
            if rtsp_loads:
                with RtspServer({f"cam{index}": moving_raw for index in range(most)}) as server:
                    for load in rtsp_loads:
                        measured("rtsp", load, [server.url(f"cam{index}") for index in range(most)])
            # "Model on every frame" must really run on every sampled frame: stay below capacity.
            motion_fps = 5.0
            capacity_then = measure_capacity(service, arguments.model, CHECK_S, outstanding=16)[
                "frames_per_s"
            ]
            motion_cameras = max(1, min(arguments.motion_cameras, int(0.5 * capacity_then / motion_fps)))
            static = [str(static_file)] * motion_cameras
            common: dict[str, Any] = {"detect_fps": motion_fps, "seconds": seconds}
            decode_only = run_cameras(static, service=None, model=None, motion=True, **common)
            gated = run_cameras(static, service=service, model=arguments.model, motion=True, **common)
            ungated = run_cameras(static, service=service, model=arguments.model, motion=False, **common)
            # The machine may be shared: capacity again at the end shows how much it drifted.
            capacity_after = measure_capacity(service, arguments.model, seconds, outstanding=16)
        finally:
            service.stop()

    base = decode_only["cpu_cores"]
    motion = {
        "cameras": motion_cameras,
        "capacity_then": capacity_then,
        "detect_fps": motion_fps,
        "seconds": seconds,
        "decode_only": decode_only,
        "gated": gated,
        "ungated": ungated,
        "pipeline_share": max(0.0, gated["cpu_cores"] - base) / max(1e-9, ungated["cpu_cores"] - base),
        "total_share": gated["cpu_cores"] / max(1e-9, ungated["cpu_cores"]),
    }
    result = {
        "model": arguments.model,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": " ".join(["python", "bench/cameras.py", *(argv if argv is not None else sys.argv[1:])]),
        "clip": f"{WIDTH}x{HEIGHT} at {clips.FPS} fps",
        "capacity": capacity,
        "capacity_after": capacity_after,
        "load_average": {"start": load_before, "end": os.getloadavg()},
        "runs": runs,
        "motion_gating": motion,
    }
    arguments.output.mkdir(parents=True, exist_ok=True)
    (arguments.output / "cameras.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (arguments.output / "cameras.md").write_text(table + "\n")
    plot(result, arguments.output / "cameras.png")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
