"""CPU and bytes per live-view frame at a camera's own size and as the live view sends it (scaled
down to ``LIVE_VIEW_LONGEST_SIDE`` on its longest side): ``draw_snapshot`` with a tracked box and a
zone, the work the stream's encoder does for each frame while someone watches.

    .venv/bin/python -m bench.live_view [--frames 30]

Frames: the shipped demo clip (640x360, smooth) scaled up to 4K, and ``bench.clips`` scenes (textured
background, a moving object, Gaussian sensor noise 4) at 4K, 1080p and 720p. CPU is the whole
process's (``time.process_time``: OpenCV shrinks a large frame on several threads), so nothing else
runs in it meanwhile. Results: bench/results/live-view.json and live-view.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.evidence import demo_frames, scene_frames
from bench.run_record import run_record
from gateway.api.console.stream import LIVE_VIEW_LONGEST_SIDE, STREAM_FPS
from gateway.config import ZoneConfig
from gateway.domain import Detection, Image
from gateway.ingest.snapshot import draw_snapshot

RESULTS = Path(__file__).resolve().parent / "results"
DETECTIONS = (Detection("person", 0.8, (0.4, 0.3, 0.55, 0.9), 7),)
ZONES = (ZoneConfig(name="yard", polygon=[(0.1, 0.5), (0.9, 0.5), (0.9, 1.0), (0.1, 1.0)]),)

FRAME_SETS: dict[str, Callable[[int], list[Image]]] = {
    "demo clip scaled to 4K": lambda count: demo_frames(count, 3840, 2160),
    "synthetic 4K, noise 4": lambda count: scene_frames(count, 3840, 2160, noise=4, foliage=False),
    "synthetic 1080p, noise 4": lambda count: scene_frames(count, 1920, 1080, noise=4, foliage=False),
    "synthetic 720p, noise 4": lambda count: scene_frames(count, 1280, 720, noise=4, foliage=False),
}


def measure(frames: list[Image], longest_side: int | None) -> dict[str, Any]:
    cpu_ms: list[float] = []
    sizes: list[int] = []
    draw_snapshot(frames[0], DETECTIONS, ZONES, longest_side=longest_side)  # warm the codec's tables
    for frame in frames:
        began = time.process_time()
        jpeg = draw_snapshot(frame, DETECTIONS, ZONES, longest_side=longest_side)
        cpu_ms.append((time.process_time() - began) * 1000)
        sizes.append(len(jpeg))
    picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    assert picture is not None
    return {
        "output": f"{picture.shape[1]}x{picture.shape[0]}",
        "cpu_ms_median": round(statistics.median(cpu_ms), 2),
        "kib_median": round(statistics.median(sizes) / 1024, 1),
        "mbit_s_at_stream_fps": round(statistics.median(sizes) * 8 * STREAM_FPS / 1e6, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=30, help="frames per frame set")
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args(argv)
    began, load_before = time.perf_counter(), os.getloadavg()
    rows: list[dict[str, Any]] = []
    for name, make in FRAME_SETS.items():
        frames = make(arguments.frames)
        size = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
        rows.append(
            {
                "frames": name,
                "input": size,
                "own size": measure(frames, None),
                "live view": measure(frames, LIVE_VIEW_LONGEST_SIDE),
            }
        )
    load_after = os.getloadavg()
    command = ("python -m bench.live_view " + " ".join(argv)).strip()
    result = {
        "benchmark": "CPU and bytes per live-view frame, at the camera's size and as the live view sends it",
        "command": command,
        "live_view_longest_side": LIVE_VIEW_LONGEST_SIDE,
        "stream_fps": STREAM_FPS,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        **run_record(began, load_before, load_after),
        "runs": rows,
    }
    arguments.output.mkdir(parents=True, exist_ok=True)
    (arguments.output / "live-view.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"Live-view frames, drawn and encoded (JPEG 85), {arguments.frames} a set, "
        f"OpenCV {cv2.__version__} on {cv2.getNumThreads()} threads, {platform.machine()}, "
        f"{os.cpu_count()} cores. Command: `{command}`. Load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after. CPU: the whole process's, medians.",
        "",
        f"| frames | in | own size: CPU ms | KiB | Mbit/s at {STREAM_FPS:g} fps "
        f"| live view | CPU ms | KiB | Mbit/s at {STREAM_FPS:g} fps |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        own, live = row["own size"], row["live view"]
        cells = [
            row["frames"],
            row["input"],
            own["cpu_ms_median"],
            own["kib_median"],
            own["mbit_s_at_stream_fps"],
        ]
        cells += [live["output"], live["cpu_ms_median"], live["kib_median"], live["mbit_s_at_stream_fps"]]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    (arguments.output / "live-view.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
