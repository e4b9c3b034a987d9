"""What a motion mask saves on a camera whose view holds a tree in the wind, and what it costs the alerts.

    .venv/bin/python -m bench.motion_mask [--seconds 30] [--rounds 2]

The clip is the shipped demo clip (a room; a face comes in and goes, its ``face`` rule fires) with a
tree in the wind pasted over its top right (x 0.70-0.95, y 0.05-0.45; leaves of 20-pixel blobs in
another place each frame, from seeds none of the tests use), written once as MP4. The real
``edge-gateway serve`` runs two cameras on it at 5 fps with the shipped face detector, motion gating
on, once without a mask and once with one drawn around the tree (0.68-0.97 by 0.03-0.47, a little
wider, as a user draws it), alternating ``--rounds`` times. Each run is measured over ``--seconds``
after a warm-up of one clip loop: the frames the model ran on (``/metrics``), the gateway's CPU
(``/proc``), and the alerts it committed (``/v1/events``: starts of the face rule). The face walks
outside the mask, so the same events are expected both ways.

Results: bench/results/motion-mask.json and .md, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tests.support.serve import serve_cameras

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CLIP = ROOT / "build" / "demo" / "clip.mp4"
TREE = (0.70, 0.05, 0.95, 0.45)
"""Where the tree is pasted: x1, y1, x2, y2 of the frame."""
MASK = [[0.68, 0.03], [0.97, 0.03], [0.97, 0.47], [0.68, 0.47]]
BLOB_PX = 20
SEED_BASE = 7_000_000
"""Leaves' seeds start here: the tests' trees use seeds from 0."""
CAMERAS = 2
DETECT_FPS = 5
CLIP_LOOP_S = 20.0
PROCESSED = re.compile(r'^edge_gateway_camera_frames_processed_total\{camera="([^"]+)"\} ([0-9.e+]+)$', re.M)


def tree_clip(path: Path) -> Path:
    """The demo clip with the tree pasted in, every frame."""
    source = cv2.VideoCapture(str(CLIP))
    fps = source.get(cv2.CAP_PROP_FPS) or 10.0
    writer: cv2.VideoWriter | None = None
    index = 0
    try:
        while True:
            ok, frame = source.read()
            if not ok:
                break
            height, width = frame.shape[:2]
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
            x1, y1 = round(TREE[0] * width), round(TREE[1] * height)
            x2, y2 = round(TREE[2] * width), round(TREE[3] * height)
            cells = (max(1, (y2 - y1) // BLOB_PX), max(1, (x2 - x1) // BLOB_PX))
            leaves = np.random.default_rng(SEED_BASE + index).integers(20, 160, cells, dtype=np.uint8)
            green = cv2.resize(leaves, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
            frame[y1:y2, x1:x2] = np.stack([green // 3, green, green // 2], axis=2)
            writer.write(frame)
            index += 1
    finally:
        source.release()
        if writer is not None:
            writer.release()
    return path


def cameras(clip: Path, masked: bool) -> list[dict[str, Any]]:
    motion: dict[str, Any] = {"mask": [MASK]} if masked else {}
    camera = {
        "url": str(clip),
        "detect_fps": DETECT_FPS,
        "model": "face-detector",
        "motion": motion,
        "rules": [{"name": "face", "labels": ["FACE_FEMALE", "FACE_MALE"], "min_score": 0.4}],
    }
    return [{"id": f"camera-{index}", **camera} for index in range(CAMERAS)]


def get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
        return bytes(reply.read())


def processed(port: int) -> float:
    return sum(float(count) for _, count in PROCESSED.findall(get(port, "/metrics").decode()))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def face_starts(port: int) -> int:
    events = json.loads(get(port, "/v1/events?rule=face&limit=1000"))["events"]
    return sum(1 for event in events if event["kind"] == "start")


def run(clip: Path, masked: bool, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as temporary:
        gateway = serve_cameras(Path(temporary), "motion-mask-bench", cameras(clip, masked))
        try:
            port = gateway.api_port()
            time.sleep(CLIP_LOOP_S)  # a loop of the clip: models warm, backgrounds learned
            frames, cpu, starts = processed(port), cpu_seconds(gateway.pid), face_starts(port)
            began = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - began
            return {
                "masked": masked,
                "seconds": elapsed,
                "model_frames_per_s": (processed(port) - frames) / elapsed,
                "cpu_cores": (cpu_seconds(gateway.pid) - cpu) / elapsed,
                "face_starts": face_starts(port) - starts,
            }
        finally:
            gateway.terminate()


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Motion mask on a tree in the wind",
        "",
        f"`python -m bench.motion_mask --seconds {result['seconds']:g} --rounds {result['rounds']}`, "
        f"{result['when']}, {result['machine']}, load average {result['load_before']} before, "
        f"{result['load_after']} after.",
        "",
        f"{CAMERAS} file cameras on the demo clip with a tree pasted in, {DETECT_FPS} fps, face-detector, "
        "gating on; medians of the runs (each run's figures in motion-mask.json).",
        "",
        "| | model runs per second (2 cameras) | gateway CPU (cores) | face events started |",
        "|---|---:|---:|---:|",
    ]
    for name, masked in (("no mask", False), ("mask around the tree", True)):
        runs = [entry for entry in result["runs"] if entry["masked"] is masked]
        lines.append(
            f"| {name} | {statistics.median(r['model_frames_per_s'] for r in runs):.2f} "
            f"| {statistics.median(r['cpu_cores'] for r in runs):.3f} "
            f"| {', '.join(str(r['face_starts']) for r in runs)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args(argv)
    load_before = " ".join(f"{value:.2f}" for value in os.getloadavg())
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as temporary:
        clip = tree_clip(Path(temporary) / "tree.mp4")
        for _ in range(arguments.rounds):
            for masked in (False, True):
                runs.append(run(clip, masked, arguments.seconds))
                print(json.dumps(runs[-1]), file=sys.stderr)
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "seconds": arguments.seconds,
        "rounds": arguments.rounds,
        "load_before": load_before,
        "load_after": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "runs": runs,
    }
    arguments.output.mkdir(parents=True, exist_ok=True)
    (arguments.output / "motion-mask.json").write_text(json.dumps(result, indent=2) + "\n")
    (arguments.output / "motion-mask.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
