"""CPU per frame of the three shrinks a camera's frame goes through, at the sizes cameras send: the
motion gate's grey picture (``motion.width`` wide, on every sampled frame), the live view (at most
``LIVE_VIEW_LONGEST_SIDE`` on its longest side, 5 fps to each viewer) and the evidence image
(``outbox.evidence.max_width`` wide, once per alert).

    .venv/bin/python -m bench.frame_shrink [--frames 20]

Each is measured as ``gateway.image_shrink.shrunk`` does it and as one ``cv2.resize`` straight to
the size (area averaging from 2x, bilinear below, what the gateway did before halving), with how
close the two pictures are (PSNR, dB, the worst frame's). Then the motion gate's whole check per
frame, without and with a mask (an outline around a quarter of the frame). Frames: ``bench.clips``
scenes (textured background, a moving object, Gaussian sensor noise 4). CPU is the whole process's
(``time.process_time``: OpenCV resizes a large frame on several threads), so nothing else runs in it
meanwhile. Results: bench/results/frame-shrink.json and frame-shrink.md.
"""

from __future__ import annotations

import argparse
import json
import math
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

from bench.evidence import scene_frames
from bench.run_record import run_record
from gateway.api.console.stream import LIVE_VIEW_LONGEST_SIDE
from gateway.config import EvidenceConfig, MotionConfig
from gateway.domain import Image
from gateway.image_shrink import at_most_long, at_most_wide, shrunk
from gateway.ingest.motion import MotionGate

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = ((3840, 2160), (2688, 1520), (2560, 1440), (1920, 1080), (1280, 720), (704, 576))
"""4K, 4 MP (a common 16:9 sensor's main stream), 1440p, 1080p, 720p and PAL D1."""
MASK = [[(0.6, 0.0), (1.0, 0.0), (1.0, 0.5), (0.6, 0.5)]]


def _gate_size(width: int, height: int) -> tuple[int, int]:
    return at_most_wide(width, height, MotionConfig().width)


def _live_view_size(width: int, height: int) -> tuple[int, int]:
    return at_most_long(width, height, LIVE_VIEW_LONGEST_SIDE)


def _evidence_size(width: int, height: int) -> tuple[int, int]:
    return at_most_wide(width, height, EvidenceConfig().max_width)


TARGETS: dict[str, Callable[[int, int], tuple[int, int]]] = {
    "motion gate": _gate_size,
    "live view": _live_view_size,
    "evidence": _evidence_size,
}


def _cpu_ms(frames: list[Image], work: Callable[[Image], object]) -> float:
    # A first pass unmeasured: the first few large buffers came from fresh pages (malloc's mmap
    # threshold still low), which doubled the first kind measured at each size.
    for frame in frames:
        work(frame)
    spent: list[float] = []
    for frame in frames:
        began = time.process_time()
        work(frame)
        spent.append((time.process_time() - began) * 1000)
    return round(statistics.median(spent), 2)


def _one_resize(frame: Image, width: int, height: int) -> Image:
    interpolation = cv2.INTER_AREA if frame.shape[1] >= 2 * width else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(frame, (width, height), interpolation=interpolation), dtype=np.uint8)


def _psnr(frames: list[Image], width: int, height: int) -> float | None:
    worst = min(cv2.PSNR(_one_resize(frame, width, height), shrunk(frame, width, height)) for frame in frames)
    return None if math.isinf(worst) or worst >= 300 else round(worst, 1)


def _gate_ms(frames: list[Image], config: MotionConfig) -> float:
    gate = MotionGate(config)
    moments = iter(range(10**6))
    return _cpu_ms(frames, lambda frame: gate.check(frame, next(moments) / 5.0))


def _shrinks(frames: list[Image], width: int, height: int) -> dict[str, Any]:
    return {
        "output": f"{width}x{height}",
        "shrunk_cpu_ms": _cpu_ms(frames, lambda frame: shrunk(frame, width, height)),
        "one_resize_cpu_ms": _cpu_ms(frames, lambda frame: _one_resize(frame, width, height)),
        "psnr_db_worst": _psnr(frames, width, height),
    }


def measure(frames: list[Image]) -> dict[str, Any]:
    height, width = frames[0].shape[:2]
    row: dict[str, Any] = {"input": f"{width}x{height}"}
    for name, target in TARGETS.items():
        row[name] = _shrinks(frames, *target(width, height))
    row["gate check cpu_ms"] = _gate_ms(frames, MotionConfig())
    row["gate check with mask cpu_ms"] = _gate_ms(frames, MotionConfig(mask=MASK))
    return row


def _cell(shrink: dict[str, Any]) -> list[str]:
    psnr = shrink["psnr_db_worst"]
    return [
        shrink["output"],
        str(shrink["shrunk_cpu_ms"]),
        str(shrink["one_resize_cpu_ms"]),
        "identical" if psnr is None else str(psnr),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=20, help="frames per size")
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args(argv)
    began, load_before = time.perf_counter(), os.getloadavg()
    rows = [
        measure(scene_frames(arguments.frames, width, height, noise=4, foliage=False))
        for width, height in SIZES
    ]
    load_after = os.getloadavg()
    command = ("python -m bench.frame_shrink " + " ".join(argv)).strip()
    result = {
        "benchmark": "CPU per frame of the motion gate's, the live view's and the evidence's shrink",
        "command": command,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        **run_record(began, load_before, load_after),
        "runs": rows,
    }
    arguments.output.mkdir(parents=True, exist_ok=True)
    (arguments.output / "frame-shrink.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"A camera frame's shrinks, {arguments.frames} frames a size (synthetic scene, noise 4), "
        f"OpenCV {cv2.__version__} on {cv2.getNumThreads()} threads, {platform.machine()}, "
        f"{os.cpu_count()} cores. Command: `{command}`. Load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after. CPU ms: the whole process's, medians; `shrunk` against one "
        "resize (area from 2x, bilinear below), and the worst frame's PSNR between their pictures.",
        "",
        "| in | motion gate | CPU ms | one resize | PSNR dB | live view | CPU ms | one resize | PSNR dB "
        "| evidence | CPU ms | one resize | PSNR dB | gate check ms | with a mask |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = [row["input"]]
        for name in TARGETS:
            cells += _cell(row[name])
        cells += [str(row["gate check cpu_ms"]), str(row["gate check with mask cpu_ms"])]
        lines.append("| " + " | ".join(cells) + " |")
    (arguments.output / "frame-shrink.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
