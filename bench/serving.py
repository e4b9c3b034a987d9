"""Serving benchmark: in-process ONNX Runtime vs the gateway's ``/v2`` infer, with the gateway's
default config, in one run.

On the same machine, every phase bounded by time, 127.0.0.1 only, binary tensors, the lean load
generators of http_load.py (closed loops) and open_loop.py (their CPU per request is recorded):

1. raw, one session (``intra_op`` = all cores) at batch 1, 2, 4 .. max: throughput and latency;
2. the gateway as a separate process (InferenceService + the aiohttp API, the default config: one
   worker per core, default admission), then ``--rounds`` rounds of, alternately: raw with one
   single-threaded session per core (the CPU ceiling) and with the best batch; the gateway under
   ``--clients`` closed-loop clients; and a light-load pass that alternates request by request
   between a raw single-threaded session, one gateway request and the same request to the transport
   floor (transport_floor.py: a server that only reads the request and writes back an answer of the
   gateway's size, what any server costs this client for these bytes); the raw session also runs
   on a worker thread, handed there from the event loop and back, as in the gateway, for what
   crossing threads costs any server with a pool of workers. Alternating puts whatever else the
   machine runs on both sides of every ratio; the server's event-loop CPU is recorded too;
3. the same ``--overload-clients`` closed loop against the default gateway and against one whose
   wait budget never refuses, alternating: what admission costs in throughput and buys in latency;
4. overload, on a second gateway process that also runs a camera (the demo clip, motion gating off,
   detect_fps 5): the camera alone, one sequential client (unloaded latency), ``--clients``
   closed-loop clients (its capacity), ``--overload-clients`` closed-loop clients that honour
   Retry-After, and an open loop (open_loop.py) at 3x that capacity, plain and with ``Expect:
   100-continue``. For each: admitted throughput and latency, status codes, Retry-After on every
   429/503, server-side rejection latency (the API's histogram), the camera's processed frames per
   second, where the cores went (the gateway's event loop, its other threads, the load generator,
   the rest of the machine, idle), and the server's RSS before, right after, and once serve's next
   heap trim has run.

Each p99 ratio also gets a 95% interval from sampling alone (quantile_interval.py: every phase keeps
its answers' latencies) and a verdict against its target: holds, fails, or undecided by this run.
``--max-queue-wait-ms`` runs both gateways with that wait budget instead of the default one, to
measure the budget's trade-off between admitted latency and throughput.

Writes ``serving.json`` and ``serving.md`` under ``--output`` and prints the table. The load average
is recorded beside every phase: figures taken on a busy machine say so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_load import Request, closed_loop, percentiles, samples_ms  # noqa: E402
from bench.open_loop import open_loop  # noqa: E402
from bench.serve_mode import run_mode, serve_mode_parser  # noqa: E402
from bench.serving_load import (  # noqa: E402
    FloorProcess,
    GatewayProcess,
    cores,
    cores_used,
    counter_value,
    cpu_snapshot,
    difference,
    histogram_mean,
    metrics_text,
    one_answer,
    paired_light,
    raw_batches,
    raw_per_core,
    raw_shared,
    server_latency,
)
from bench.serving_report import CAMERA_FPS, markdown, p99_intervals, ratios  # noqa: E402
from bench.shipped_model import ShippedModel, gateway_config, scratch_repository  # noqa: E402
from gateway.api import event_loop  # noqa: E402
from gateway.api.app import create_app, serve  # noqa: E402
from gateway.config import AdmissionConfig, CameraConfig, GatewayConfig, HttpConfig  # noqa: E402
from gateway.garbage_collection import settle  # noqa: E402
from gateway.heap import TRIM_EVERY_S, keep_freed_memory_between_trims, release_freed_memory  # noqa: E402
from gateway.inference.service import InferenceService  # noqa: E402
from gateway.ingest.cameras import CameraPipeline  # noqa: E402

ROUTE = "/v2/models/{name}/infer"
CAMERA = "bench"
NO_WAIT_BUDGET_MS = 3_600_000


# --- the gateway in its own process --------------------------------------------------------------


def serve_main(arguments: argparse.Namespace) -> int:
    """``serving.py serve``: InferenceService + API (and a camera with ``--camera CLIP``) on a free
    port; prints ``PORT n``; runs until SIGTERM/SIGINT or stdin closes."""
    config = GatewayConfig.model_validate(json.loads(arguments.config))
    keep_freed_memory_between_trims()  # as ``edge-gateway serve`` does
    registry = CollectorRegistry()
    service = InferenceService.from_config(config, registry)
    service.start()
    cameras = None
    if arguments.camera:
        model = next(status.name for status in service.models())
        camera = CameraConfig(
            id=CAMERA, url=arguments.camera, detect_fps=CAMERA_FPS, model=model, motion={"enabled": False}
        )
        cameras = CameraPipeline(
            [camera],
            lambda reference, frame, deadline: service.submit_frame(reference, frame.image, deadline),
            lambda frame, result: None,
            registry,
            max_pending=2 * service.pool.workers,
        )
        cameras.start()

    async def run() -> None:
        app = create_app(
            http=HttpConfig(port=0),
            admission=AdmissionConfig.model_validate(json.loads(arguments.admission)),
            inference=service,
            cameras=cameras,
            events=None,
            registry=registry,
        )
        server = await serve(app, "127.0.0.1", 0)
        settle()  # as ``edge-gateway serve`` does (see gateway/garbage_collection.py)
        print(f"PORT {server.port}", flush=True)

        async def trim_heap() -> None:  # as ``edge-gateway serve`` does (see gateway/heap.py)
            while True:
                await asyncio.sleep(TRIM_EVERY_S)
                release_freed_memory()

        trimming = asyncio.ensure_future(trim_heap())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stop.set)
        # The benchmark closes our stdin to stop us, so a crashed benchmark never leaves a server behind.
        loop.add_reader(
            sys.stdin.fileno(), lambda: stop.set() if not os.read(sys.stdin.fileno(), 1) else None
        )
        await stop.wait()
        trimming.cancel()
        await server.close()

    try:
        event_loop.run(run())  # the loop ``edge-gateway serve`` runs on
    finally:
        if cameras is not None:
            cameras.stop()
        service.stop()
    return 0


# --- phases --------------------------------------------------------------------------------------


def merge_runs(runs: Sequence[dict[str, Any]], samples: Sequence[list[float]]) -> dict[str, Any]:
    """Rounds of the same phase as one: items over total time, latencies pooled."""
    items = sum(run["items"] for run in runs)
    elapsed = sum(run["elapsed_s"] for run in runs)
    statuses: Counter[str] = Counter()
    for run in runs:
        statuses.update(run.get("statuses", {}))
    merged = {key: value for key, value in runs[0].items() if key not in ("items", "elapsed_s", "statuses")}
    merged.update(
        {
            "rounds": len(runs),
            "items_per_s": items / elapsed,
            "latency": percentiles([value for each in samples for value in each]),
        }
    )
    if statuses:
        merged["statuses"] = dict(sorted(statuses.items()))
    return merged


def camera_fps(server: GatewayProcess, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run`` (a load phase) with the camera's processed frames per second and the server's RSS and
    rejection latency around it."""
    before_text = asyncio.run(metrics_text(server.port))
    before_latency = asyncio.run(server_latency(server.port, ROUTE))
    rss_before = server.rss_bytes()
    cpu_before = cpu_snapshot(server)
    started = time.perf_counter()
    outcome = run()
    elapsed = time.perf_counter() - started
    cpu_after = cpu_snapshot(server)
    after_text = asyncio.run(metrics_text(server.port))
    name, labels = "edge_gateway_camera_frames_processed_total", {"camera": CAMERA}
    processed = counter_value(after_text, name, labels) - counter_value(before_text, name, labels)
    outcome.update(
        {
            "camera_fps": processed / elapsed,
            # Frames and requests together, as the gateway's own histograms saw them.
            "mean_queue_wait_ms": _milliseconds(
                histogram_mean(before_text, after_text, "edge_gateway_inference_queue_wait_seconds")
            ),
            "mean_engine_ms_per_batch": _milliseconds(
                histogram_mean(before_text, after_text, "edge_gateway_inference_compute_seconds")
            ),
            "server_side": difference(asyncio.run(server_latency(server.port, ROUTE)), before_latency),
            # The default wait budget's share of one item as the phase ended (wait_budget.py).
            "wait_budget_share": counter_value(after_text, "edge_gateway_admission_wait_budget_share", {}),
            "rss_before_mb": rss_before / 2**20,
            "rss_after_mb": server.rss_bytes() / 2**20,
            "load_average": os.getloadavg()[0],
            "cpu_cores": cores_used(cpu_before, cpu_after),
        }
    )
    # Right after a phase the heap still holds what its last requests freed, until serve's next
    # trim (gateway/heap.py); read once more after it, where the next phase's "before" is read too.
    time.sleep(TRIM_EVERY_S + 1.0)
    outcome["rss_settled_mb"] = server.rss_bytes() / 2**20
    return outcome


def _milliseconds(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds


def overload_phases(server: GatewayProcess, request: Request, arguments: Any) -> dict[str, Any]:
    seconds = arguments.overload_seconds
    phases: dict[str, Any] = {}

    def idle() -> dict[str, Any]:
        time.sleep(seconds / 2)
        return {}

    def closed(clients: int, seconds: float = seconds) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            outcome, latencies = asyncio.run(closed_loop(server.port, request, clients, seconds))
            outcome["items_per_s"] = outcome["items"] / outcome["elapsed_s"]
            outcome["admitted_latency"] = percentiles(latencies)
            outcome["admitted_samples_ms"] = samples_ms(latencies)
            return outcome

        return run

    def opened(expect_continue: bool) -> Callable[[], dict[str, Any]]:
        # 3x the capacity of this gateway, the one with the camera, measured in the phase before.
        rate = 3 * phases["capacity"]["items_per_s"]
        return lambda: open_loop(server.port, request, rate, seconds, expect_continue=expect_continue)

    print("with a camera: alone, unloaded, at capacity, closed loop, open loop", flush=True)
    phases["camera_alone"] = camera_fps(server, idle)
    # Every p99 ratio divides by this one: it gets the most samples (about 30 a second).
    phases["unloaded"] = camera_fps(server, closed(1, arguments.unloaded_seconds))
    # The camera's decoding takes CPU from the workers: the capacity overload is held against is
    # measured with it running, by as many clients as the rounds used (busy, not overloaded).
    phases["capacity"] = camera_fps(server, closed(arguments.clients))
    phases["closed_loop"] = camera_fps(server, closed(arguments.overload_clients))
    phases["open_loop"] = camera_fps(server, opened(False))
    phases["open_loop_expect"] = camera_fps(server, opened(True))
    return phases


def throughput_rounds(
    server: GatewayProcess, request: Request, model_file: Path, item: Any, *, input_name: str, arguments: Any
) -> dict[str, Any]:
    """Raw and gateway phases alternate, round after round, so that whatever else the machine is
    doing weighs on both sides of every ratio alike."""
    floor = FloorProcess(asyncio.run(one_answer(server.port, request)))
    try:
        return _rounds(server, floor, request, model_file, item, input_name=input_name, arguments=arguments)
    finally:
        floor.close()


def _rounds(
    server: GatewayProcess,
    floor: FloorProcess,
    request: Request,
    model_file: Path,
    item: Any,
    *,
    input_name: str,
    arguments: Any,
) -> dict[str, Any]:
    seconds, workers = arguments.seconds, arguments.workers or cores()
    batches = raw_batches(model_file, item, input_name, min(arguments.max_batch, 8), seconds)
    best_batch = max(batches, key=lambda entry: entry["items_per_s"])["batch"]
    runs: dict[str, list[dict[str, Any]]] = {
        name: [] for name in ("per_core", "shared", "loaded", "single", "handed", "light", "floor")
    }
    samples: dict[str, list[list[float]]] = {name: [] for name in runs}
    pairs: list[float] = []
    above_floor: list[float] = []
    handoffs: list[float] = []
    above_handoff: list[float] = []
    cpu = {"server_event_loop_s": 0.0, "server_other_threads_s": 0.0, "raw_s": 0.0, "requests": 0}
    loads = []
    for round_index in range(arguments.rounds):
        print(f"round {round_index + 1}/{arguments.rounds}", flush=True)
        phases: tuple[tuple[str, Callable[[], tuple[dict[str, Any], list[float]]]], ...] = (
            ("per_core", lambda: raw_per_core(model_file, item, input_name, workers, seconds)),
            ("shared", lambda: raw_shared(model_file, item, input_name, best_batch, seconds)),
            ("loaded", lambda: asyncio.run(closed_loop(server.port, request, arguments.clients, seconds))),
        )
        for name, run in phases:
            outcome, latencies = run()
            runs[name].append(outcome)
            samples[name].append(latencies)
        before = server.cpu_seconds()
        light = event_loop.run(
            paired_light(
                server.port,
                floor.port,
                request,
                model_file=model_file,
                item=item,
                input_name=input_name,
                seconds=2 * seconds,
            )
        )
        after = server.cpu_seconds()
        for name, latencies in (
            ("single", light.raw),
            ("handed", light.handed),
            ("light", light.gateway),
            ("floor", light.floor),
        ):
            runs[name].append({"clients": 1, "items": len(latencies), "elapsed_s": sum(latencies)})
            samples[name].append(latencies)
        pairs += [gateway - raw for raw, gateway in zip(light.raw, light.gateway, strict=True)]
        above_floor += [
            gateway_s - raw_s - floor_s
            for raw_s, gateway_s, floor_s in zip(light.raw, light.gateway, light.floor, strict=True)
        ]
        handoffs += [handed - raw for raw, handed in zip(light.raw, light.handed, strict=True)]
        above_handoff += [
            gateway_s - handed_s - floor_s
            for handed_s, gateway_s, floor_s in zip(light.handed, light.gateway, light.floor, strict=True)
        ]
        cpu["raw_s"] += light.raw_cpu_s
        cpu["server_event_loop_s"] += after["event_loop"] - before["event_loop"]
        cpu["server_other_threads_s"] += after["other_threads"] - before["other_threads"]
        cpu["requests"] += len(light.gateway)
        loads.append(os.getloadavg()[0])
    merged = {name: merge_runs(runs[name], samples[name]) for name in runs}
    merged["loaded"]["client_cpu_ms_per_request"] = float(
        np.mean([run["client_cpu_ms_per_request"] for run in runs["loaded"]])
    )
    return {
        "batches_once": batches,
        **merged,
        "paired_difference_p50_ms": 1000 * float(np.median(pairs)),
        "above_floor_p50_ms": 1000 * float(np.median(above_floor)),
        "handoff_p50_ms": 1000 * float(np.median(handoffs)),
        "above_floor_and_handoff_p50_ms": 1000 * float(np.median(above_handoff)),
        "light_cpu_ms_per_request": {
            "event_loop": 1000 * cpu["server_event_loop_s"] / cpu["requests"],
            "other_threads_minus_raw": 1000
            * (cpu["server_other_threads_s"] - cpu["raw_s"])
            / cpu["requests"],
        },
        "load_average_per_round": loads,
    }


def admission_comparison(
    server: GatewayProcess, without: GatewayProcess, request: Request, arguments: Any
) -> dict[str, Any]:
    """The same closed loop against the default gateway and one whose wait budget never refuses,
    alternating, so both see the same neighbours: what latency-aware admission costs in throughput
    and buys in latency."""
    runs: dict[str, list[dict[str, Any]]] = {"default": [], "no_wait_budget": []}
    samples: dict[str, list[list[float]]] = {name: [] for name in runs}
    for round_index in range(arguments.comparison_rounds):
        print(f"admission comparison {round_index + 1}/{arguments.comparison_rounds}", flush=True)
        for name, target in (("default", server), ("no_wait_budget", without)):
            outcome, latencies = asyncio.run(
                closed_loop(target.port, request, arguments.overload_clients, arguments.seconds)
            )
            outcome["load_average"] = os.getloadavg()[0]
            runs[name].append(outcome)
            samples[name].append(latencies)
    return {name: merge_runs(runs[name], samples[name]) for name in runs}


def bench_main(arguments: argparse.Namespace) -> int:
    model = ShippedModel.named(arguments.model)
    spec = model.config.inputs[0]
    item = model.item(arguments.size)
    request = model.request(arguments.size)
    with tempfile.TemporaryDirectory() as scratch:
        model.link_into(scratch_repository(Path(scratch)))
        workers = {"workers": arguments.workers} if arguments.workers else {}
        config = gateway_config(Path(scratch), **workers)
        budget = arguments.max_queue_wait_ms
        admission = {} if budget is None else {"max_queue_wait_ms": budget}
        server = GatewayProcess(config, admission)
        try:
            rounds = throughput_rounds(
                server, request, model.model_file, item, input_name=spec.name, arguments=arguments
            )
            without = GatewayProcess(config, {"max_queue_wait_ms": NO_WAIT_BUDGET_MS})
            try:
                comparison = admission_comparison(server, without, request, arguments)
            finally:
                without.close()
        finally:
            server.close()
        server = GatewayProcess(config, admission, camera=Path(arguments.camera).resolve())
        try:
            time.sleep(2.0)  # the camera's first frames
            overload = overload_phases(server, request, arguments)
        finally:
            server.close()
    table = ratios(rounds, comparison, overload)
    intervals = p99_intervals(overload)
    command = " ".join(shlex.quote(part) for part in ["python", "bench/serving.py", *sys.argv[1:]])
    result = {
        "model": f"{arguments.model}:{model.version}",
        "input_shape": list(item.shape),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": command,
        "machine": {
            "cpu": _cpu_name(),
            "cores": cores(),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "load_average_at_start": arguments.load_average,
            "load_average_at_end": os.getloadavg()[0],
        },
        "gateway_config": config["inference"],
        "admission": admission,
        "rounds": rounds,
        "admission_comparison": comparison,
        "overload": overload,
        "ratios": {
            name: {"value": value, "target": target}
            | ({"interval_95": list(intervals[name])} if name in intervals else {})
            for name, (value, target) in table.items()
        },
    }
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "serving.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result, table, intervals)
    (output / "serving.md").write_text(text)
    print(text)
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser, serve_parser = serve_mode_parser(__doc__)
    serve_parser.add_argument("--admission", required=True)
    serve_parser.add_argument("--camera", default=None)
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument("--workers", type=int, default=0, help="default: the gateway's (one per core)")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients in the rounds")
    parser.add_argument("--overload-clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="raw and gateway phases alternate this often")
    parser.add_argument("--overload-seconds", type=float, default=20.0, help="per phase with the camera")
    parser.add_argument("--unloaded-seconds", type=float, default=30.0, help="1 client, camera on")
    parser.add_argument("--comparison-rounds", type=int, default=2, help="admission vs none, alternating")
    parser.add_argument("--camera", default=str(ROOT / "build" / "demo" / "clip.mp4"))
    parser.add_argument(
        "--max-queue-wait-ms",
        type=float,
        default=None,
        help="admission's wait budget instead of the default (one item's service time): its trade-off",
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "results"))
    arguments = parser.parse_args(argv)
    arguments.load_average = os.getloadavg()[0]
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    return run_mode(parse_arguments(argv), serve_main, bench_main)


if __name__ == "__main__":
    sys.exit(main())
