"""Serving benchmark: in-process ONNX Runtime vs the gateway's ``/v2`` infer, in one run.

On the same machine, every phase bounded by time and request count, 127.0.0.1 only:

1. raw, one session (``intra_op`` = all cores) at batch 1, 2, 4 .. max: throughput and latency;
2. the gateway started as a separate process (InferenceService + the aiohttp API, one worker with a
   single-threaded session per core, binary tensors), then ``--rounds`` rounds of, alternately:
   raw with one single-threaded session per core (the CPU ceiling); the gateway under
   ``--clients`` closed-loop clients; and a light-load pass that alternates request by request
   between a raw single-threaded session and one gateway request. Alternating puts whatever else
   the machine runs on both sides of every ratio; the server's CPU time (event-loop thread apart
   from the workers) is recorded too, since contention inflates it far less than wall time;
3. the gateway offered 3x its measured throughput, open loop: admitted latency vs light load,
   rejection latency (client-side, and server-side from the API's histogram), status codes,
   Retry-After on every 429/503, the server's RSS before and after.

Writes ``bench/results/serving.json`` and ``bench/results/serving.md`` and prints the table and the
gateway/raw ratios. The load generators live in serving_load.py.
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
import numpy.typing as npt
import onnxruntime as ort
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.serving_load import (  # noqa: E402
    GatewayProcess,
    binary_request,
    closed_loop,
    cores,
    difference,
    open_loop,
    paired_light,
    percentiles,
    raw_batches,
    raw_per_core,
    raw_shared,
    server_latency,
)
from gateway.api.app import create_app, serve  # noqa: E402
from gateway.config import AdmissionConfig, GatewayConfig, HttpConfig  # noqa: E402
from gateway.inference.model_config import load_model_config  # noqa: E402
from gateway.inference.service import InferenceService  # noqa: E402

Array = npt.NDArray[Any]


# --- the gateway in its own process --------------------------------------------------------------


def serve_main(arguments: argparse.Namespace) -> int:
    """``serving.py serve``: InferenceService + API on a free port; prints ``PORT n``; runs until
    SIGTERM/SIGINT or stdin closes."""
    config = GatewayConfig.model_validate(json.loads(arguments.config))
    registry = CollectorRegistry()
    service = InferenceService.from_config(config, registry)
    service.start()

    async def run() -> None:
        app = create_app(
            http=HttpConfig(port=0),
            admission=AdmissionConfig.model_validate(json.loads(arguments.admission)),
            inference=service,
            cameras=None,
            events=None,
            registry=registry,
        )
        server = await serve(app, "127.0.0.1", 0)
        print(f"PORT {server.port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stop.set)
        # The benchmark closes our stdin to stop us, so a crashed benchmark never leaves a server behind.
        loop.add_reader(
            sys.stdin.fileno(), lambda: stop.set() if not os.read(sys.stdin.fileno(), 1) else None
        )
        await stop.wait()
        await server.close()

    try:
        asyncio.run(run())
    finally:
        service.stop()
    return 0


# --- report --------------------------------------------------------------------------------------


def markdown(result: dict[str, Any], ratios: dict[str, tuple[float, str]]) -> str:
    raw = result["raw"]
    gateway = result["gateway"]
    machine = result["machine"]
    rows = [
        (f"raw ORT, 1 session (all threads), batch {entry['batch']}, sweep before the rounds", entry)
        for entry in raw["batches_once"]
    ]
    rows += [
        (f"raw ORT, 1 session (all threads), batch {raw['shared']['batch']}, in the rounds", raw["shared"]),
        (f"raw ORT, {raw['per_core']['sessions']} single-thread sessions, batch 1", raw["per_core"]),
        ("raw ORT, 1 single-thread session, sequential (alternating with the next row)", raw["single"]),
        ("gateway /v2 binary, 1 client, sequential (alternating with the row above)", gateway["light"]),
        (
            f"gateway /v2 binary, {gateway['throughput']['clients']} clients, closed loop",
            gateway["throughput"],
        ),
    ]
    lines = [
        "# Serving benchmark",
        "",
        f"Command (from the repository root, venv active): `{result['command']}`",
        "",
        f"{result['date']}; {machine['cpu']}, {machine['cores']} cores usable, "
        f"Python {machine['python']}, onnxruntime {machine['onnxruntime']}; load average "
        f"{machine['load_average_at_start']:.2f} at start, {machine['load_average_at_end']:.2f} at end "
        f"(the machine is shared). Model `{result['model']}`, "
        f"input {result['input_shape']} FP32, sent as binary tensors.",
        "",
        "| run | items/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for label, entry in rows:
        latency = entry["latency"]
        lines.append(
            f"| {label} | {entry['items_per_s']:.2f} | {latency['p50_ms']:.2f} | {latency['p99_ms']:.2f} |"
        )
    nan = float("nan")
    notes = []
    for key, how in (("overload", "plain"), ("overload_expect", "Expect: 100-continue")):
        overload = gateway[key]
        admitted, rejected = overload["admitted_latency"], overload["rejected_latency"]
        lines += [
            f"| gateway, open loop at {overload['offered_per_s']:.1f}/s (3x), {how}, admitted "
            f"| {overload['admitted_per_s']:.2f} "
            f"| {admitted.get('p50_ms', nan):.2f} | {admitted.get('p99_ms', nan):.2f} |",
            f"| gateway, same run, rejected (client-side) | - | {rejected.get('p50_ms', nan):.2f} "
            f"| {rejected.get('p99_ms', nan):.2f} |",
        ]
        notes.append(
            f"Overload ({how}): statuses {overload['statuses']}; 429/503 without Retry-After: "
            f"{overload['retry_after_missing']}; server-side latency by status (API histogram): "
            f"{json.dumps(overload['server_side'])}."
        )
    lines += ["", *[f"{note}\n" for note in notes], "| measure | value | target |", "|---|---:|---:|"]
    lines += [f"| {name} | {value:.3f} | {target} |" for name, (value, target) in ratios.items()]
    lines += [
        "",
        f"Gateway: `inference: {json.dumps(result['gateway_config'])}`, "
        f"`admission: {json.dumps(result['admission'])}`; server RSS "
        f"{gateway['rss_before_overload_mb']:.1f} MiB before and {gateway['rss_after_overload_mb']:.1f} MiB "
        "after the overload runs. Raw and gateway phases alternate round by round (see serving.json).",
        "",
    ]
    return "\n".join(lines)


def overload_ratios(overload: dict[str, Any], light_p99: float, label: str) -> dict[str, tuple[float, str]]:
    nan = float("nan")
    return {
        f"{label}: admitted p99 / light-load p99": (
            overload["admitted_latency"].get("p99_ms", nan) / light_p99,
            "<= 2",
        ),
        f"{label}: rejection p99, client-side (ms)": (
            overload["rejected_latency"].get("p99_ms", nan),
            "<= 2",
        ),
        f"{label}: rejections answered within 2 ms, server-side (share)": (
            overload["server_side"].get("503", {}).get("share_within_2ms", nan),
            "= 1",
        ),
    }


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


def bench_main(arguments: argparse.Namespace) -> int:
    model_dir = (ROOT / "models" / arguments.model).resolve()
    config = load_model_config(model_dir / "model.yaml")
    version = max(int(path.name) for path in model_dir.iterdir() if path.name.isdigit())
    model_file = model_dir / str(version) / "model.onnx"
    spec = config.inputs[0]
    dims = [arguments.size if dim == -1 else dim for dim in spec.dims]
    item = np.random.default_rng(0).random((1, *dims), dtype=np.float32)
    workers = arguments.workers or cores()
    max_batch = min(arguments.max_batch, config.max_batch_size)
    seconds = arguments.seconds
    clients = arguments.clients or workers + 2
    route = "/v2/models/{name}/infer"

    print(f"raw: batches 1..{max_batch}", flush=True)
    batches = raw_batches(model_file, item, spec.name, max_batch, seconds)

    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch) / "models"
        repository.mkdir()
        (repository / arguments.model).symlink_to(model_dir, target_is_directory=True)
        gateway_config = {
            "device_id": "bench",
            "state_dir": str(Path(scratch) / "state"),
            "models": {"repository": str(repository), "warmup_batches": 2, "poll_interval_s": 3600},
            "inference": {
                "workers": workers,
                "intra_op_threads": 1,
                "providers": ["cpu"],
                "max_batch_size": arguments.gateway_batch,
                "max_queue_delay_ms": arguments.queue_delay_ms,
                "queue_capacity": arguments.queue_capacity or 2 * workers,
            },
        }
        admission = {"rate_per_s": 1_000_000, "burst": 1_000_000, "high_watermark": arguments.high_watermark}
        request = binary_request(arguments.model, spec.name, item)
        server = GatewayProcess(gateway_config, admission)
        # The sweep above ran once; its best batch size runs again in every round, so that both raw
        # ceilings are measured under the same conditions as the gateway.
        best_batch = max(batches, key=lambda entry: entry["items_per_s"])["batch"]
        phases: dict[str, list[dict[str, Any]]] = {
            "per_core": [],
            "shared": [],
            "single": [],
            "light": [],
            "loaded": [],
        }
        samples: dict[str, list[list[float]]] = {name: [] for name in phases}
        pairs: list[float] = []
        # CPU time is what contention from other processes does not inflate (much): the server's
        # CPU per request minus ONNX Runtime's CPU per inference is the gateway's own cost.
        cpu = {"raw_s": 0.0, "server_event_loop_s": 0.0, "server_other_threads_s": 0.0, "requests": 0}
        try:
            # Raw and gateway phases alternate, round after round, so that whatever else the
            # machine is doing weighs on both sides of every ratio alike.
            for round_index in range(arguments.rounds):
                print(f"round {round_index + 1}/{arguments.rounds}", flush=True)
                runs: tuple[tuple[str, Callable[[], tuple[dict[str, Any], list[float]]]], ...] = (
                    ("per_core", lambda: raw_per_core(model_file, item, spec.name, workers, seconds)),
                    ("shared", lambda: raw_shared(model_file, item, spec.name, best_batch, seconds)),
                    (
                        "loaded",
                        lambda: asyncio.run(closed_loop(server.port, request, clients, seconds, 100_000)),
                    ),
                )
                for name, run in runs:
                    outcome, latencies = run()
                    phases[name].append(outcome)
                    samples[name].append(latencies)
                server_cpu_before = server.cpu_seconds()
                raw_light, gateway_light, raw_cpu = asyncio.run(
                    paired_light(
                        server.port,
                        request,
                        model_file=model_file,
                        item=item,
                        input_name=spec.name,
                        seconds=2 * seconds,
                    )
                )
                for name, latencies in (("single", raw_light), ("light", gateway_light)):
                    phases[name].append({"clients": 1, "items": len(latencies), "elapsed_s": sum(latencies)})
                    samples[name].append(latencies)
                pairs += [gateway - raw for raw, gateway in zip(raw_light, gateway_light, strict=True)]
                server_cpu_after = server.cpu_seconds()
                cpu["raw_s"] += raw_cpu
                for key in ("event_loop", "other_threads"):
                    cpu[f"server_{key}_s"] += server_cpu_after[key] - server_cpu_before[key]
                cpu["requests"] += len(gateway_light)
            shared = merge_runs(phases["shared"], samples["shared"])
            per_core, single = (
                merge_runs(phases["per_core"], samples["per_core"]),
                merge_runs(phases["single"], samples["single"]),
            )
            light, throughput = (
                merge_runs(phases["light"], samples["light"]),
                merge_runs(phases["loaded"], samples["loaded"]),
            )
            rss_before = server.rss_bytes()
            rate = 3 * throughput["items_per_s"]
            print(f"gateway: open loop at {rate:.1f}/s", flush=True)
            overloads: dict[str, dict[str, Any]] = {}
            for name, expect_continue in (("overload", False), ("overload_expect", True)):
                before = asyncio.run(server_latency(server.port, route))
                overloads[name] = asyncio.run(
                    open_loop(
                        server.port,
                        request,
                        rate,
                        arguments.overload_seconds,
                        connections=256,
                        expect_continue=expect_continue,
                    )
                )
                after = asyncio.run(server_latency(server.port, route))
                overloads[name]["server_side"] = difference(after, before)
            rss_after = server.rss_bytes()
        finally:
            server.close()

    best_raw = max(shared["items_per_s"], per_core["items_per_s"])
    raw_p50, raw_p99 = single["latency"]["p50_ms"], single["latency"]["p99_ms"]
    light_p50, light_p99 = light["latency"]["p50_ms"], light["latency"]["p99_ms"]
    ratios = {
        "gateway / best raw throughput (both measured in the rounds)": (
            throughput["items_per_s"] / best_raw,
            ">= 0.95",
        ),
        "p50 added latency, light load (ms)": (light_p50 - raw_p50, "<= 1"),
        "p99 added latency, light load (ms)": (light_p99 - raw_p99, "<= 5"),
        "median of paired differences gateway - raw, light load (ms)": (
            1000 * float(np.median(pairs)),
            "<= 1",
        ),
        **overload_ratios(overloads["overload"], light_p99, "3x overload"),
        **overload_ratios(overloads["overload_expect"], light_p99, "3x overload, Expect: 100-continue"),
        "server event-loop CPU per request, light load (ms)": (
            1000 * cpu["server_event_loop_s"] / cpu["requests"],
            "-",
        ),
        "server worker-thread CPU per request - raw CPU per inference, light load (ms)": (
            1000 * (cpu["server_other_threads_s"] - cpu["raw_s"]) / cpu["requests"],
            "-",
        ),
        "RSS after / before overload": (rss_after / rss_before, "flat"),
    }
    command = " ".join(shlex.quote(part) for part in ["python", "bench/serving.py", *sys.argv[1:]])
    result = {
        "model": f"{arguments.model}:{version}",
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
        "raw": {
            "batches_once": batches,
            "shared": shared,
            "per_core": per_core,
            "single": single,
            "best_items_per_s": best_raw,
        },
        "gateway": {
            "light": light,
            "throughput": throughput,
            **overloads,
            "light_cpu": {
                **cpu,
                "raw_ms_per_inference": 1000 * cpu["raw_s"] / cpu["requests"],
                "server_event_loop_ms_per_request": 1000 * cpu["server_event_loop_s"] / cpu["requests"],
                "server_other_threads_ms_per_request": 1000 * cpu["server_other_threads_s"] / cpu["requests"],
            },
            "rss_before_overload_mb": rss_before / 2**20,
            "rss_after_overload_mb": rss_after / 2**20,
        },
        "gateway_config": gateway_config["inference"],
        "admission": admission,
        "ratios": {name: {"value": value, "target": target} for name, (value, target) in ratios.items()},
    }
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "serving.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result, ratios)
    (output / "serving.md").write_text(table)
    print(table)
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode")
    serve_parser = sub.add_parser("serve", help="internal: run the gateway for the benchmark")
    serve_parser.add_argument("--config", required=True)
    serve_parser.add_argument("--admission", required=True)
    parser.add_argument("--model", default="face-detector")
    parser.add_argument("--size", type=int, default=320, help="for dynamic height/width")
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument("--workers", type=int, default=0, help="default: one per core")
    parser.add_argument("--max-batch", type=int, default=8)
    # Enough closed-loop clients that one is queued while another is still uploading its tensor;
    # more only spin on 503s (which they retry at once) and take CPU from the workers.
    parser.add_argument("--clients", type=int, default=0, help="default: workers + 2")
    parser.add_argument("--gateway-batch", type=int, default=1, help="inference.max_batch_size")
    parser.add_argument("--queue-delay-ms", type=float, default=0.0)
    parser.add_argument("--queue-capacity", type=int, default=0, help="default: 2 per worker")
    # On CPU an admitted request should wait for at most one running inference: with a queue of two
    # per worker, 0.25 admits while at most half a worker's worth is waiting.
    parser.add_argument("--high-watermark", type=float, default=0.25)
    parser.add_argument("--rounds", type=int, default=3, help="raw and gateway phases alternate this often")
    parser.add_argument("--overload-seconds", type=float, default=10.0)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results"))
    arguments = parser.parse_args(argv)
    arguments.load_average = os.getloadavg()[0]
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.mode == "serve":
        return serve_main(arguments)
    return bench_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
