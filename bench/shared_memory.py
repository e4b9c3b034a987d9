"""Tensors in Triton's system shared memory against binary tensors in the body: the same gateway (its
default config, in its own process, as serving.py runs it), the same model and input, in the same
rounds as raw ONNX Runtime, on the same cores, 127.0.0.1 only.

Each round alternates: raw ONNX Runtime, one single-threaded session per core and one session with
every core at the best batch (serving.py's two ceilings); the gateway under ``--clients`` closed-loop
clients sending binary tensors; the same clients with the input read from one registered region and
the outputs written into another (every client names the same two regions: the server's cost is
what is measured, not what the clients do with the outputs); then a light-load pass that alternates
request by request between a raw single-threaded session, a binary request and a shared-memory one.
The gateway's event-loop CPU is recorded for each closed loop.

Writes ``shared_memory.json`` and ``shared_memory.md`` under ``--output`` and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_load import Connection, Request, closed_loop, percentiles  # noqa: E402
from bench.serving import merge_runs  # noqa: E402
from bench.serving_load import (  # noqa: E402
    GatewayProcess,
    cores,
    one_answer,
    raw_batches,
    raw_per_core,
    raw_shared,
    session,
)
from bench.shipped_model import ShippedModel, gateway_config, scratch_repository  # noqa: E402
from gateway.api import event_loop  # noqa: E402
from gateway.api.shared_memory_regions import SHARED_MEMORY_FOLDER  # noqa: E402

Array = Any


class Regions:
    """The input's and the outputs' shared-memory objects, registered with the gateway at ``port``."""

    def __init__(self, port: int, item: Array, output_bytes: int) -> None:
        self.port = port
        tag = uuid.uuid4().hex[:12]
        self.keys = {
            "input": f"/edge-gateway-bench-{tag}-input",
            "output": f"/edge-gateway-bench-{tag}-output",
        }
        contents = {"input": np.ascontiguousarray(item).tobytes(), "output": bytes(output_bytes)}
        for name, key in self.keys.items():
            path = SHARED_MEMORY_FOLDER / key.lstrip("/")
            path.write_bytes(contents[name])
            path.chmod(0o666)  # the gateway takes only what every user may read and write
            self._post(
                f"/v2/systemsharedmemory/region/{name}/register",
                {"key": key, "offset": 0, "byte_size": len(contents[name])},
            )

    def _post(self, path: str, document: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(document).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            if answer.status != 200:
                raise RuntimeError(f"{path} answered {answer.status}")

    def close(self) -> None:
        self._post("/v2/systemsharedmemory/unregister", {})
        for key in self.keys.values():
            (SHARED_MEMORY_FOLDER / key.lstrip("/")).unlink(missing_ok=True)


def output_sizes(binary_answer: bytes) -> list[tuple[str, int]]:
    """Each output's name and byte size, from the JSON header that starts a binary answer."""
    header, _ = json.JSONDecoder().raw_decode(binary_answer.decode("latin-1"))
    return [(output["name"], output["parameters"]["binary_data_size"]) for output in header["outputs"]]


def shared_request(model: ShippedModel, item: Array, outputs: list[tuple[str, int]]) -> Request:
    """The request that names the input's region and a place in the output region for each output."""
    places, offset = [], 0
    for name, size in outputs:
        places.append(
            {
                "name": name,
                "parameters": {
                    "shared_memory_region": "output",
                    "shared_memory_offset": offset,
                    "shared_memory_byte_size": size,
                },
            }
        )
        offset += size
    document = {
        "inputs": [
            {
                "name": model.config.inputs[0].name,
                "shape": list(item.shape),
                "datatype": "FP32",
                "parameters": {"shared_memory_region": "input", "shared_memory_byte_size": item.nbytes},
            }
        ],
        "outputs": places,
    }
    body = json.dumps(document).encode()
    return Request(f"/v2/models/{model.name}/infer", body, {"Content-Type": "application/json"})


async def light_pass(
    port: int, requests: dict[str, Request], *, model_file: Path, item: Array, input_name: str, seconds: float
) -> dict[str, list[float]]:
    """One request at a time, alternating raw ONNX Runtime (a single-threaded session, as each
    gateway worker has), a binary request and a shared-memory request."""
    single = session(model_file, 1)
    feeds = {input_name: item}
    connections = {name: Connection(port) for name in requests}
    latencies: dict[str, list[float]] = {"raw": [], **{name: [] for name in requests}}
    for _ in range(2):
        single.run(None, feeds)
        for name, connection in connections.items():
            await connection.send(requests[name])
    end = time.perf_counter() + seconds
    order = list(connections)
    while time.perf_counter() < end:
        started = time.perf_counter()
        single.run(None, feeds)
        latencies["raw"].append(time.perf_counter() - started)
        order.reverse()  # neither kind of request always follows the raw run
        for name in order:
            connection = connections[name]
            started = time.perf_counter()
            reply = await connection.send(requests[name])
            if reply.status != 200:
                raise RuntimeError(f"light load ({name}) got HTTP {reply.status}: {reply.body[:200]!r}")
            latencies[name].append(time.perf_counter() - started)
    for connection in connections.values():
        connection.close()
    return latencies


def loaded(
    server: GatewayProcess, request: Request, clients: int, seconds: float
) -> tuple[dict[str, Any], list[float]]:
    """A closed loop, with the gateway's event-loop CPU per answered request."""
    before = server.cpu_seconds()
    outcome, latencies = asyncio.run(closed_loop(server.port, request, clients, seconds))
    after = server.cpu_seconds()
    outcome["event_loop_cpu_s"] = after["event_loop"] - before["event_loop"]
    return outcome, latencies


def run_rounds(
    server: GatewayProcess, model: ShippedModel, item: Array, requests: dict[str, Request], arguments: Any
) -> dict[str, Any]:
    input_name, model_file = model.config.inputs[0].name, model.model_file
    seconds, workers = arguments.seconds, cores()
    batches = raw_batches(model_file, item, input_name, 8, seconds)
    best_batch = max(batches, key=lambda entry: entry["items_per_s"])["batch"]
    names = ("per_core", "shared_raw", "binary", "shared")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    samples: dict[str, list[list[float]]] = {name: [] for name in names}
    light: dict[str, list[float]] = {"raw": [], "binary": [], "shared": []}
    loads = []
    for index in range(arguments.rounds):
        print(f"round {index + 1}/{arguments.rounds}", flush=True)
        phases: tuple[tuple[str, Callable[[], tuple[dict[str, Any], list[float]]]], ...] = (
            ("per_core", lambda: raw_per_core(model_file, item, input_name, workers, seconds)),
            ("shared_raw", lambda: raw_shared(model_file, item, input_name, best_batch, seconds)),
            ("binary", lambda: loaded(server, requests["binary"], arguments.clients, seconds)),
            ("shared", lambda: loaded(server, requests["shared"], arguments.clients, seconds)),
        )
        for name, run in phases:
            outcome, latencies = run()
            runs[name].append(outcome)
            samples[name].append(latencies)
        passed = event_loop.run(
            light_pass(
                server.port,
                requests,
                model_file=model_file,
                item=item,
                input_name=input_name,
                seconds=2 * seconds,
            )
        )
        for name, values in passed.items():
            light[name] += values
        loads.append(os.getloadavg()[0])
    merged = {name: merge_runs(runs[name], samples[name]) for name in names}
    for name in names:
        merged[name]["items_per_s_per_round"] = [run["items"] / run["elapsed_s"] for run in runs[name]]
    for name in ("binary", "shared"):
        answered = sum(run["items"] for run in runs[name])
        merged[name].pop("event_loop_cpu_s")  # merge_runs kept the first round's
        merged[name].pop("client_cpu_ms_per_request", None)
        merged[name]["event_loop_cpu_ms_per_request"] = (
            1000 * sum(run["event_loop_cpu_s"] for run in runs[name]) / answered
        )
    return {
        "batches_once": batches,
        **merged,
        "light": {name: percentiles(values) for name, values in light.items()},
        "light_paired_p50_ms": {
            name: 1000
            * float(np.median([got - raw for raw, got in zip(light["raw"], light[name], strict=True)]))
            for name in ("binary", "shared")
        },
        "load_average_per_round": loads,
    }


def table(rounds: dict[str, Any]) -> dict[str, tuple[float, str]]:
    best_raw = max(rounds["per_core"]["items_per_s"], rounds["shared_raw"]["items_per_s"])
    result: dict[str, tuple[float, str]] = {}
    for name, said in (("binary", "binary tensors in the body"), ("shared", "system shared memory")):
        result[f"{said}: gateway / best raw throughput (same rounds)"] = (
            rounds[name]["items_per_s"] / best_raw,
            ">= 0.95",
        )
        result[f"{said}: added latency at light load, p50 (ms)"] = (
            rounds["light"][name]["p50_ms"] - rounds["light"]["raw"]["p50_ms"],
            "<= 1",
        )
        result[f"{said}: added latency at light load, p99 (ms)"] = (
            rounds["light"][name]["p99_ms"] - rounds["light"]["raw"]["p99_ms"],
            "<= 5",
        )
        result[f"{said}: median of paired differences gateway - raw (ms)"] = (
            rounds["light_paired_p50_ms"][name],
            "<= 1",
        )
        result[f"{said}: event-loop CPU per request, {rounds[name]['clients']} clients (ms)"] = (
            rounds[name]["event_loop_cpu_ms_per_request"],
            "-",
        )
    return result


def markdown(result: dict[str, Any], ratios: dict[str, tuple[float, str]]) -> str:
    rounds = result["rounds"]
    lines = [
        f"# Shared memory vs binary tensors: {result['model']} {result['input_shape']}",
        "",
        f"{result['date']}, `{result['command']}`, {result['machine']['cores']} cores, load average "
        f"{result['machine']['load_average_at_start']:.2f} at start, "
        + ", ".join(f"{value:.2f}" for value in rounds["load_average_per_round"])
        + " after each round",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        *(f"| {name} | {value:.3f} | {target} |" for name, (value, target) in ratios.items()),
        "",
        "| phase | items/s | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for name in ("per_core", "shared_raw", "binary", "shared"):
        phase = rounds[name]
        lines.append(
            f"| {name} | {phase['items_per_s']:.1f} | {phase['latency']['p50_ms']:.2f} | "
            f"{phase['latency']['p99_ms']:.2f} |"
        )
    for name, latency in rounds["light"].items():
        lines.append(f"| light, {name} | - | {latency['p50_ms']:.2f} | {latency['p99_ms']:.2f} |")
    lines += ["", "| phase | items/s in each round |", "|---|---|"]
    for name in ("per_core", "shared_raw", "binary", "shared"):
        each = ", ".join(f"{value:.1f}" for value in rounds[name]["items_per_s_per_round"])
        lines.append(f"| {name} | {each} |")
    return "\n".join(lines) + "\n"


def bench_main(arguments: argparse.Namespace) -> int:
    model = ShippedModel.named(arguments.model)
    item = model.item(arguments.size)
    binary = model.request(arguments.size)
    with tempfile.TemporaryDirectory() as scratch:
        model.link_into(scratch_repository(Path(scratch)))
        server = GatewayProcess(gateway_config(Path(scratch)), {})
        try:
            outputs = output_sizes(asyncio.run(one_answer(server.port, binary)))
            regions = Regions(server.port, item, sum(size for _, size in outputs))
            try:
                requests = {"binary": binary, "shared": shared_request(model, item, outputs)}
                rounds = run_rounds(server, model, item, requests, arguments)
            finally:
                regions.close()
        finally:
            server.close()
    command = " ".join(shlex.quote(part) for part in ["python", "bench/shared_memory.py", *sys.argv[1:]])
    result = {
        "model": f"{arguments.model}:{model.version}",
        "input_shape": list(item.shape),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": command,
        "machine": {
            "cores": cores(),
            "load_average_at_start": arguments.load_average,
            "load_average_at_end": os.getloadavg()[0],
        },
        "rounds": rounds,
    }
    ratios = table(rounds)
    result["ratios"] = {name: {"value": value, "target": target} for name, (value, target) in ratios.items()}
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "shared_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result, ratios)
    (output / "shared_memory.md").write_text(text)
    print(text)
    return 0


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="face-detector")
    parser.add_argument("--size", type=int, default=320, help="for dynamic height/width")
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients")
    parser.add_argument("--rounds", type=int, default=3, help="raw and gateway phases alternate this often")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "shared-memory"))
    arguments = parser.parse_args(argv)
    arguments.load_average = os.getloadavg()[0]
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_arguments(argv))


if __name__ == "__main__":
    sys.exit(main())
