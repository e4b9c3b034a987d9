"""Native TensorRT engine throughput vs ``trtexec`` on the same engine file (needs a GPU).

Both sides run the same serialized engine at the same batch on one CUDA stream, host<->device
copies included (trtexec's default; our ``TensorrtEngine.run`` copies through pinned buffers).
Target (issue 7): our batches/s >= 0.9 x trtexec's queries/s.

Usage::

    .venv/bin/python bench/tensorrt.py [--model yolov8n-bench] [--precision fp16] [--batch 8]
        [--seconds 10] [--trtexec /usr/src/tensorrt/bin/trtexec] [--out bench/results/tensorrt.json]

The engine comes from (or goes into) the gateway's engine cache under ``--state-dir``, exactly as
``edge-gateway build-engine`` would build it.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path, and this file is named tensorrt.py:
# it would shadow TensorRT's own bindings. The repository root replaces it.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from gateway.commands.build_engine import ProgressBar  # noqa: E402
from gateway.errors import ModelLoadError  # noqa: E402
from gateway.inference.engine_cache import EngineCache, EngineKey, Precision, model_digest, profile_for  # noqa: E402
from gateway.inference.engines.selection import current_device  # noqa: E402
from gateway.inference.engines.tensorrt import TensorrtEngine  # noqa: E402
from gateway.inference.engines.tensorrt_build import BuildRequest, build_engine  # noqa: E402
from gateway.inference.model_config import load_model_config  # noqa: E402

TARGET_RATIO = 0.9
TRTEXEC_CANDIDATES = ("trtexec", "/usr/src/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec")


def engine_for(model: str, precision: Precision, batch: int, state_dir: Path) -> tuple[Path, dict[str, Any]]:
    onnx_path = ROOT / "models" / model / "1" / "model.onnx"
    config = load_model_config(ROOT / "models" / model / "model.yaml")
    key = EngineKey(current_device(), precision, profile_for(config, batch), model_digest(onnx_path))
    cache = EngineCache(state_dir / "engines")
    plan = cache.get(key)
    if plan is None:
        progress = ProgressBar(sys.stderr)
        data = build_engine(BuildRequest(onnx_path, precision, key.profile), progress)
        progress.close()
        plan = cache.store(key, data)
    return plan, key.to_json()


def measure_ours(plan: Path, input_name: str, shape: tuple[int, ...], seconds: float) -> dict[str, float]:
    engine = TensorrtEngine(plan)
    feeds = {input_name: np.random.default_rng(0).random(shape, dtype=np.float32)}
    try:
        for _ in range(20):
            engine.run(feeds)
        latencies = []
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            begin = time.perf_counter()
            engine.run(feeds)
            latencies.append(time.perf_counter() - begin)
        elapsed = time.perf_counter() - started
    finally:
        engine.close()
    milliseconds = np.array(latencies) * 1000
    return {
        "batches_per_s": len(latencies) / elapsed,
        "images_per_s": len(latencies) * shape[0] / elapsed,
        "latency_p50_ms": float(np.percentile(milliseconds, 50)),
        "latency_p99_ms": float(np.percentile(milliseconds, 99)),
    }


def measure_trtexec(trtexec: str, plan: Path, input_name: str, shape: tuple[int, ...], seconds: float) -> Any:
    command = [
        trtexec,
        f"--loadEngine={plan}",
        f"--shapes={input_name}:{'x'.join(str(dim) for dim in shape)}",
        f"--duration={int(seconds)}",
        "--warmUp=1000",
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds * 10 + 120
    ).stdout
    throughput = re.search(r"Throughput:\s*([\d.]+)\s*qps", output)
    median = re.search(r"Latency:.*?median = ([\d.]+) ms", output)
    if throughput is None:
        raise RuntimeError(f"no throughput in trtexec's output:\n{output[-2000:]}")
    return {
        "command": " ".join(command),
        "batches_per_s": float(throughput.group(1)),
        "images_per_s": float(throughput.group(1)) * shape[0],
        "latency_median_ms": float(median.group(1)) if median else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov8n-bench")
    parser.add_argument("--precision", choices=["fp32", "fp16"], default="fp16")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--trtexec", help=f"default: the first of {', '.join(TRTEXEC_CANDIDATES)} found")
    parser.add_argument("--state-dir", type=Path, default=ROOT / "state")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tensorrt.json")
    arguments = parser.parse_args()
    trtexec = arguments.trtexec or next(filter(None, map(shutil.which, TRTEXEC_CANDIDATES)), None)
    if trtexec is None:
        print("trtexec not found: pass --trtexec PATH (it ships with TensorRT's samples)", file=sys.stderr)
        return 2
    try:
        plan, key = engine_for(arguments.model, arguments.precision, arguments.batch, arguments.state_dir)
    except ModelLoadError as exc:
        print(f"bench/tensorrt.py: {exc}", file=sys.stderr)
        return 2
    config = load_model_config(ROOT / "models" / arguments.model / "model.yaml")
    (shape_range,) = profile_for(config, arguments.batch)[:1]
    shape = shape_range.maximum
    ours = measure_ours(plan, shape_range.name, shape, arguments.seconds)
    theirs = measure_trtexec(trtexec, plan, shape_range.name, shape, arguments.seconds)
    ratio = ours["batches_per_s"] / theirs["batches_per_s"]
    result = {
        "device": f"{key['gpu']} (sm {key['compute_capability']})",
        "tensorrt": key["tensorrt_version"],
        "host": platform.node(),
        "model": arguments.model,
        "precision": arguments.precision,
        "batch": arguments.batch,
        "seconds": arguments.seconds,
        "engine": str(plan),
        "gateway": ours,
        "trtexec": theirs,
        "ratio": ratio,
        "target": TARGET_RATIO,
        "command": " ".join([sys.executable, *sys.argv]),
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| {result['device']}, TensorRT {result['tensorrt']} | images/s | p50 ms |")
    print("|---|---|---|")
    print(f"| gateway TensorrtEngine | {ours['images_per_s']:.1f} | {ours['latency_p50_ms']:.2f} |")
    print(f"| trtexec | {theirs['images_per_s']:.1f} | {theirs['latency_median_ms'] or float('nan'):.2f} |")
    print(f"| ratio (target >= {TARGET_RATIO}) | {ratio:.3f} | |")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
