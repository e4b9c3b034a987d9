"""What a benchmark's JSON says about the run itself, so that figures taken on another machine or
under another load can be told apart: how long it took, the load average before and after it, and
the machine (Python, ONNX Runtime, CPU, cores)."""

from __future__ import annotations

import os
import platform
import time

import onnxruntime as ort


def run_record(
    began: float, load_before: tuple[float, float, float], load_after: tuple[float, float, float]
) -> dict[str, object]:
    """``began``: ``time.perf_counter()`` at the start; the loads: ``os.getloadavg()``."""
    return {
        "seconds": time.perf_counter() - began,
        "load_average": {"before": load_before, "after": load_after},
        "machine": {
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "cpu": platform.machine(),
            "cores": os.cpu_count(),
        },
    }
