"""Memory benchmark: where the gateway's RSS goes, and what ``serve`` holds with the demo config and
with 8 cameras on one model.

1. Breakdown, each step in a fresh process so that nothing one step allocated is counted by the
   next: the interpreter with the gateway's imports; then one model's ONNX Runtime session(s) and
   their warm-up, the way the gateway now loads them (one session shared by the workers, warm-up at
   the largest batch the batcher forms: 1 on CPU) and the way it used to (one session per worker,
   warm-up at max_batch_size); then a model no camera uses (yolov8n-bench at 640), which ``serve``
   no longer loads until its first request.
2. ``edge-gateway serve`` itself, RSS sampled every second for ``--seconds`` once the API answers:
   the embedded demo config; the same with the former defaults (``models.preload: all``,
   ``inference.max_batch_size: 8`` explicitly, which also merges items and warms up at 8); and
   8 file cameras (the demo clip, 5 fps each) on face-detector.

Writes ``memory.json`` and ``memory.md`` under ``--output``; the load average is recorded with each
figure (RSS barely depends on it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 120.0
LISTENING = re.compile(r"HTTP API listening on [0-9.]+:(\d+)")


def rss_mb(pid: int | None = None) -> float:
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


# --- 1. breakdown, one step per process ----------------------------------------------------------


def step_main(step: str) -> int:
    """``memory.py step NAME``: do one step and print its RSS as JSON."""
    import numpy as np  # noqa: PLC0415 - the imports are what the first figure measures

    import gateway.api.app  # noqa: PLC0415
    import gateway.pipeline  # noqa: F401, PLC0415
    from gateway.inference.engines.base import EngineOptions  # noqa: PLC0415
    from gateway.inference.engines.onnx import OnnxEngine  # noqa: PLC0415
    from gateway.inference.loaded import release_freed_memory  # noqa: PLC0415

    base = rss_mb()
    figures: dict[str, float] = {"imports": base}
    if step == "imports":
        print(json.dumps(figures))
        return 0
    model, size, sessions, batch = {
        "shared": ("face-detector", 320, 1, 1),
        "per_worker": ("face-detector", 320, 2, 8),
        "unused_model": ("yolov8n-bench", 640, 1, 1),
        "unused_model_per_worker": ("yolov8n-bench", 640, 2, 8),
    }[step]
    path = ROOT / "models" / model / "1" / "model.onnx"
    engines = [OnnxEngine(path, EngineOptions(providers=("cpu",))) for _ in range(sessions)]
    figures["sessions"] = rss_mb() - base
    for rows in (batch, 1):
        feeds = {"images": np.zeros((rows, 3, size, size), np.float32)}
        for engine in engines:
            engine.run(feeds)
    release_freed_memory()
    figures["warm_up"] = rss_mb() - base - figures["sessions"]
    print(json.dumps(figures))
    return 0


def breakdown() -> dict[str, dict[str, float]]:
    steps = {}
    for step in ("imports", "shared", "per_worker", "unused_model", "unused_model_per_worker"):
        output = subprocess.run(
            [sys.executable, __file__, "step", step], check=True, capture_output=True, text=True
        ).stdout
        steps[step] = json.loads(output.strip().splitlines()[-1])
        print(f"breakdown {step}: {steps[step]}", flush=True)
    return steps


# --- 2. serve --------------------------------------------------------------------------------------


def demo_document(state: Path) -> dict[str, Any]:
    from gateway.config import default_config  # noqa: PLC0415

    document: dict[str, Any] = default_config(ROOT).model_dump(mode="json", exclude_unset=True)
    document["state_dir"] = str(state)
    document["http"] = {"port": 0}
    return document


def configs(scratch: Path) -> dict[str, dict[str, Any]]:
    demo = demo_document(scratch / "state-demo")
    former = json.loads(json.dumps(demo))
    former["state_dir"] = str(scratch / "state-former")
    former["models"]["preload"] = "all"
    former["inference"] = {"max_batch_size": 8}
    clip = str(ROOT / "build" / "demo" / "clip.mp4")
    eight = {
        "device_id": "eight",
        "state_dir": str(scratch / "state-eight"),
        "http": {"port": 0},
        "models": {"repository": str(ROOT / "models")},
        "cameras": [
            {"id": f"camera-{index}", "url": clip, "detect_fps": 5, "model": "face-detector"}
            for index in range(8)
        ],
    }
    return {"demo": demo, "demo_former_defaults": former, "eight_cameras_one_model": eight}


def measure_serve(config: dict[str, Any], scratch: Path, name: str, seconds: float) -> dict[str, Any]:
    path = scratch / f"{name}.json"
    path.write_text(json.dumps(config))  # JSON is YAML
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(path)]
    log = (scratch / f"{name}.log").open("w+")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        port = _wait_port(log, process)
        _wait_ready(port)
        samples = []
        for _ in range(int(seconds)):
            time.sleep(1.0)
            samples.append(rss_mb(process.pid))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/cameras", timeout=10) as response:
            cameras = json.loads(response.read())["cameras"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/repository/index", timeout=10) as response:
            models = json.loads(response.read())
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    settled = samples[len(samples) // 2 :]
    return {
        "rss_settled_mb": statistics.median(settled),
        "rss_max_mb": max(samples),
        "samples_mb": samples,
        "cameras_streaming": sum(1 for camera in cameras if camera["state"] == "streaming"),
        "fps_processed": sum(camera["fps_processed"] for camera in cameras),
        "models": {f"{entry['name']}:{entry['version']}": entry["state"] for entry in models},
        "load_average": os.getloadavg()[0],
    }


def _wait_port(log: Any, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        log.seek(0)
        match = LISTENING.search(log.read())
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"serve exited with {process.returncode}: {log.read()[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError("serve did not start listening in time")


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("serve did not become ready in time")


# --- report ----------------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    steps, serve = result["breakdown"], result["serve"]
    lines = [
        "# Memory",
        "",
        f"Command (from the repository root, venv active): `{result['command']}`",
        "",
        f"{result['date']}; load average {result['load_average_at_start']:.2f} at start. RSS in MiB.",
        "",
        "| where | MiB |",
        "|---|---:|",
        f"| interpreter + the gateway's imports (numpy, onnxruntime, OpenCV, aiohttp, ...) "
        f"| {steps['imports']['imports']:.0f} |",
    ]
    for step, label in (
        ("shared", "face-detector: 1 session shared by the workers / its warm-up at batch 1"),
        ("per_worker", "face-detector, as before: 2 sessions (one per worker) / warm-up at batch 8"),
        ("unused_model", "yolov8n-bench @640 (no camera uses it): 1 session / warm-up at batch 1"),
        ("unused_model_per_worker", "yolov8n-bench @640, as before: 2 sessions / warm-up at batch 8"),
    ):
        figures = steps[step]
        lines.append(f"| {label} | {figures['sessions']:.0f} / {figures['warm_up']:.0f} |")
    lines += [
        "",
        "| `serve` with | RSS settled | RSS max | cameras streaming | frames/s processed | models | load |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, entry in serve.items():
        lines.append(
            f"| {name} | {entry['rss_settled_mb']:.0f} | {entry['rss_max_mb']:.0f} "
            f"| {entry['cameras_streaming']} | {entry['fps_processed']:.1f} | {entry['models']} "
            f"| {entry['load_average']:.2f} |"
        )
    lines += [
        "",
        "`demo_former_defaults` keeps today's shared sessions; before them (one session per worker, "
        "every model loaded, warm-up at batch 8) the same `serve` held 705 MiB on this machine.",
        "Target (DESIGN): the demo config <= 300 MiB.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "step"])
    parser.add_argument("step", nargs="?")
    parser.add_argument("--seconds", type=float, default=20.0, help="RSS samples per serve config")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results"))
    arguments = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if arguments.mode == "step":
        return step_main(arguments.step)
    load_average = os.getloadavg()[0]
    steps = breakdown()
    serve = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, config in configs(Path(scratch)).items():
            print(f"serve: {name}", flush=True)
            serve[name] = measure_serve(config, Path(scratch), name, arguments.seconds)
    result = {
        "command": " ".join(["python", "bench/memory.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_at_start": load_average,
        "breakdown": steps,
        "serve": serve,
    }
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "memory.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (output / "memory.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
