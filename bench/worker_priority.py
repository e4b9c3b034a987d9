"""Worker priority: the event loop's waits for a core, and refusals answered within 2 ms, with the
inference workers at the event loop's priority (``inference.worker_nice: 0``) and at the default,
alternating.

On the same machine, 127.0.0.1 only, binary tensors: for each setting in turn, ``--rounds`` times, a
gateway process as serving.py's overload phases run it (the default config but for
``worker_nice``, ``--model``, the demo clip as a camera with motion gating off, detect_fps 5).
Each gateway's capacity with ``--clients`` closed-loop clients, then an open loop at 3x that
capacity for ``--seconds`` (the load under which the workers fill both cores). For each: items/s at
capacity; in the open loop, the 503s answered within 1 and 2 ms server-side (the API's histogram),
admitted items/s and p50/p99, the camera's processed frames per second, and the event loop's
scheduler statistics (``/proc/<pid>/task/<pid>/schedstat``): its time runnable but waiting for a
core, per wake-up and per second, against its time running. Alternating puts whatever else the
machine runs on both sides.

Writes ``worker_priority.json`` and ``worker_priority.md`` under ``--output`` and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_load import Request, closed_loop  # noqa: E402
from bench.open_loop import open_loop  # noqa: E402
from bench.serving_load import (  # noqa: E402
    GatewayProcess,
    counter_value,
    difference,
    metrics_text,
    server_latency,
)
from bench.shipped_model import ShippedModel, gateway_config, scratch_repository  # noqa: E402

ROUTE = "/v2/models/{name}/infer"
CAMERA = "bench"
"""The camera's id in serving.py's ``serve`` mode."""
SETTINGS = (0, 10)
"""``inference.worker_nice``: the event loop's priority, and the default."""


def schedstat(pid: int) -> tuple[float, float, int]:
    """The main thread's (the event loop's) seconds running, seconds runnable but waiting for a core,
    and times it was put on a core."""
    running, waiting, slices = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    return int(running) / 1e9, int(waiting) / 1e9, int(slices)


def one_gateway(config: dict[str, Any], request: Request, arguments: argparse.Namespace) -> dict[str, Any]:
    """Capacity, then the open loop at 3x it, on a fresh gateway running ``config``."""
    server = GatewayProcess(config, {}, camera=Path(arguments.camera).resolve())
    try:
        time.sleep(2.0)  # the camera's first frames
        outcome, _ = asyncio.run(
            closed_loop(server.port, request, arguments.clients, arguments.capacity_seconds)
        )
        capacity = outcome["items"] / outcome["elapsed_s"]
        latency_before = asyncio.run(server_latency(server.port, ROUTE))
        text_before = asyncio.run(metrics_text(server.port))
        loop_before = schedstat(server.process.pid)
        started = time.perf_counter()
        loaded = open_loop(server.port, request, 3 * capacity, arguments.seconds)
        elapsed = time.perf_counter() - started
        loop_after = schedstat(server.process.pid)
        text_after = asyncio.run(metrics_text(server.port))
        refusals = difference(asyncio.run(server_latency(server.port, ROUTE)), latency_before).get("503", {})
    finally:
        server.close()
    frames = counter_value(text_after, "edge_gateway_camera_frames_processed_total", {"camera": CAMERA})
    frames -= counter_value(text_before, "edge_gateway_camera_frames_processed_total", {"camera": CAMERA})
    running, waiting, slices = (after - before for after, before in zip(loop_after, loop_before, strict=True))
    return {
        "capacity_items_per_s": capacity,
        "open_loop": {
            "offered_per_s": loaded["offered_per_s"],
            "admitted_per_s": loaded["admitted_per_s"],
            "admitted_latency": loaded["admitted_latency"],
            "statuses": loaded["statuses"],
            "refusals_503": refusals.get("count", 0.0),
            "refusals_over_1ms": refusals.get("count", 0.0) - refusals.get("le_0.001", 0.0),
            "refusals_over_2ms": refusals.get("count", 0.0) - refusals.get("le_0.002", 0.0),
            "camera_fps": frames / elapsed,
            "event_loop": {
                "running_cores": running / elapsed,
                "waiting_cores": waiting / elapsed,
                "wakeups_per_s": slices / elapsed,
                "mean_wait_per_wakeup_ms": 1000 * waiting / slices if slices else None,
            },
        },
    }


def summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One setting's rounds together: counts summed, rates and means as the median over rounds."""
    loops = [run["open_loop"] for run in runs]
    refusals = sum(loop["refusals_503"] for loop in loops)
    slow = sum(loop["refusals_over_2ms"] for loop in loops)

    def median(values: Sequence[float]) -> float:
        return float(np.median(values))

    return {
        "rounds": len(runs),
        "capacity_items_per_s": median([run["capacity_items_per_s"] for run in runs]),
        "admitted_per_s": median([loop["admitted_per_s"] for loop in loops]),
        "admitted_p50_ms": median([loop["admitted_latency"]["p50_ms"] for loop in loops]),
        "admitted_p99_ms": median([loop["admitted_latency"]["p99_ms"] for loop in loops]),
        "camera_fps": median([loop["camera_fps"] for loop in loops]),
        "refusals_503": refusals,
        "refusals_over_1ms": sum(loop["refusals_over_1ms"] for loop in loops),
        "refusals_over_2ms": slow,
        "share_within_2ms": 1 - slow / refusals if refusals else None,
        "event_loop_mean_wait_per_wakeup_ms": median(
            [loop["event_loop"]["mean_wait_per_wakeup_ms"] for loop in loops]
        ),
        "event_loop_waiting_cores": median([loop["event_loop"]["waiting_cores"] for loop in loops]),
        "event_loop_running_cores": median([loop["event_loop"]["running_cores"] for loop in loops]),
    }


ROWS = (
    ("capacity, items/s (closed loop)", "capacity_items_per_s", "{:.1f}"),
    ("open loop 3x: admitted items/s", "admitted_per_s", "{:.1f}"),
    ("open loop 3x: admitted p50 ms", "admitted_p50_ms", "{:.1f}"),
    ("open loop 3x: admitted p99 ms", "admitted_p99_ms", "{:.1f}"),
    ("open loop 3x: camera fps", "camera_fps", "{:.2f}"),
    ("503s (all rounds)", "refusals_503", "{:.0f}"),
    ("503s over 1 ms, server-side", "refusals_over_1ms", "{:.0f}"),
    ("503s over 2 ms, server-side", "refusals_over_2ms", "{:.0f}"),
    ("503s within 2 ms (share)", "share_within_2ms", "{:.5f}"),
    ("event loop: mean wait for a core per wake-up, ms", "event_loop_mean_wait_per_wakeup_ms", "{:.3f}"),
    ("event loop: waiting for a core, cores", "event_loop_waiting_cores", "{:.4f}"),
    ("event loop: running, cores", "event_loop_running_cores", "{:.3f}"),
)


def markdown(result: dict[str, Any]) -> str:
    settings = result["settings"]
    header = " | ".join(f"worker_nice {nice}" for nice in settings)
    lines = [
        "# Worker priority",
        "",
        f"Command (from the repository root, venv active): `{result['command']}`",
        "",
        f"{result['date']}; {result['machine']['cores']} cores usable, Python {result['machine']['python']}. "
        f"Model `{result['model']}`; the demo clip as a camera. {result['rounds']} rounds, the settings "
        f"alternating; open loop {result['seconds']:.0f} s a round. Load average "
        f"{result['machine']['load_average_at_start']:.2f} at start, "
        f"{result['machine']['load_average_at_end']:.2f} at end. Rates, latencies and the event loop's "
        "figures: the median over rounds; counts: summed.",
        "",
        f"| measure | {header} |",
        "|---|" + "---:|" * len(settings),
    ]
    for label, key, form in ROWS:
        cells = []
        for nice in settings:
            value = result["summary"][str(nice)][key]
            cells.append("-" if value is None else form.format(value))
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="face-detector")
    parser.add_argument("--size", type=int, default=320, help="for dynamic height/width")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0, help="open loop, per round and setting")
    parser.add_argument("--capacity-seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients for the capacity")
    parser.add_argument("--camera", default=str(ROOT / "build" / "demo" / "clip.mp4"))
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "worker-priority"))
    arguments = parser.parse_args(argv)
    load_at_start = os.getloadavg()[0]

    model = ShippedModel.named(arguments.model)
    request = model.request(arguments.size)
    runs: dict[int, list[dict[str, Any]]] = {nice: [] for nice in SETTINGS}
    with tempfile.TemporaryDirectory() as scratch:
        model.link_into(scratch_repository(Path(scratch)))
        for round_index in range(arguments.rounds):
            # The order flips each round, so neither setting always runs first.
            order = SETTINGS if round_index % 2 == 0 else SETTINGS[::-1]
            for nice in order:
                run = one_gateway(gateway_config(Path(scratch), worker_nice=nice), request, arguments)
                runs[nice].append(run)
                loop = run["open_loop"]
                print(
                    f"round {round_index + 1}, worker_nice {nice}: "
                    f"capacity {run['capacity_items_per_s']:.1f}/s, 503s over 2 ms "
                    f"{loop['refusals_over_2ms']:.0f} of {loop['refusals_503']:.0f}, event loop "
                    f"{loop['event_loop']['mean_wait_per_wakeup_ms']:.3f} ms waiting per wake-up",
                    flush=True,
                )
    result = {
        "command": " ".join(
            shlex.quote(part) for part in ["python", "bench/worker_priority.py", *sys.argv[1:]]
        ),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "model": f"{arguments.model}:{model.version}",
        "machine": {
            "cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg()[0],
        },
        "rounds": arguments.rounds,
        "seconds": arguments.seconds,
        "settings": list(SETTINGS),
        "runs": {str(nice): runs[nice] for nice in SETTINGS},
        "summary": {str(nice): summary(runs[nice]) for nice in SETTINGS},
    }
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "worker_priority.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (output / "worker_priority.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
