"""Per-frame latency of yolov8n-bench next to a real YOLOv8n, on one pinned core, single-threaded.

yolov8n-bench stands in for a real YOLOv8n in throughput benchmarks, so it has to cost what the real
one costs. The reference is face-detector (nudenet's pretrained YOLOv8n: the same backbone, neck and
head, 18 classes instead of 80) measured in the same run with the same settings: one session,
``intra_op_num_threads=1``, the process pinned to one core, batch 1, after a warm-up. Writes
``bench/results/yolov8n_bench.json`` and prints a markdown table.

    .venv/bin/python build/measure_models.py [--runs 40] [--core 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("yolov8n-bench", "face-detector")
SIZES = (320, 640)


def measure(paths: dict[str, Path], size: int, runs: int) -> dict[str, dict[str, float]]:
    """Latencies in ms of each model at ``size``; the models take turns, run by run, so that load
    from other processes on a shared machine falls on both alike."""
    engines = {
        name: OnnxEngine(path, EngineOptions(providers=("cpu",), intra_op_threads=1))
        for name, path in paths.items()
    }
    frame = {"images": np.random.default_rng(size).random((1, 3, size, size), dtype=np.float32)}
    timings: dict[str, list[float]] = {name: [] for name in engines}
    for run in range(runs + 5):
        for name, engine in engines.items():
            started = time.perf_counter()
            engine.run(frame)
            if run >= 5:  # the first runs are warm-up
                timings[name].append((time.perf_counter() - started) * 1000)
    for engine in engines.values():
        engine.close()
    return {name: _summary(values) for name, values in timings.items()}


def _summary(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)
    return {
        "median_ms": round(statistics.median(timings), 2),
        "p10_ms": round(timings[int(0.1 * (len(timings) - 1))], 2),
        "p90_ms": round(timings[int(0.9 * (len(timings) - 1))], 2),
        "min_ms": round(timings[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    arguments = parser.parse_args()
    os.sched_setaffinity(0, {arguments.core})
    rows: list[dict[str, object]] = []
    medians: dict[tuple[str, int], float] = {}
    paths = {name: ROOT / "models" / name / "1" / "model.onnx" for name in MODELS}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        print(f"{missing} missing: run build/build_models.py first", file=sys.stderr)
        return 1
    for size in SIZES:
        for name, timings in measure(paths, size, arguments.runs).items():
            medians[name, size] = timings["median_ms"]
            rows.append({"model": name, "size": size, **timings})
    result = {
        "command": "build/measure_models.py " + " ".join(sys.argv[1:]),
        "settings": {
            "batch": 1,
            "intra_op_num_threads": 1,
            "pinned_core": arguments.core,
            "runs": arguments.runs,
        },
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "onnxruntime": version("onnxruntime"),
        },
        "results": rows,
        "ratio_bench_to_real_median": {
            str(size): round(medians[MODELS[0], size] / medians[MODELS[1], size], 3) for size in SIZES
        },
        "load_average_after": os.getloadavg(),
    }
    output = ROOT / "bench" / "results" / "yolov8n_bench.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("| model | input | median ms | p10 ms | p90 ms | min ms |\n|---|---|---|---|---|---|")
    for row in rows:
        cells = [row[key] for key in ("model", "size", "median_ms", "p10_ms", "p90_ms", "min_ms")]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    ratio = result["ratio_bench_to_real_median"]
    print(f"bench/real median ratio: {ratio}; load average {os.getloadavg()}")
    print(f"written to {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
