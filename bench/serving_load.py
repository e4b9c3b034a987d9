"""Load generators and measurements for bench/serving.py: raw ONNX Runtime loops, the gateway and the
transport floor as separate processes, the paired light-load client, and the server's own metrics,
latency histogram and CPU time. The closed-loop clients are in http_load.py, the open loop in
open_loop.py."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from prometheus_client.parser import text_string_to_metric_families

from bench.http_load import Connection, Request, percentiles

Array = npt.NDArray[Any]
SERVING_SCRIPT = Path(__file__).resolve().with_name("serving.py")
FLOOR_SCRIPT = Path(__file__).resolve().with_name("transport_floor.py")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# --- raw ONNX Runtime ------------------------------------------------------------------------------


def session(model_file: Path, threads: int) -> ort.InferenceSession:
    """The same options the gateway's engine uses, so the comparison is like for like."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


def timed_loop(run: Any, seconds: float, max_calls: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        run()
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and len(latencies) < max_calls:
        started = time.perf_counter()
        run()
        latencies.append(time.perf_counter() - started)
    return latencies


def raw_batches(
    model_file: Path, item: Array, input_name: str, max_batch: int, seconds: float
) -> list[dict[str, Any]]:
    results = []
    shared = session(model_file, 0)
    batch = 1
    while batch <= max_batch:
        feeds = {input_name: np.repeat(item, batch, axis=0)}
        started = time.perf_counter()
        latencies = timed_loop(lambda feeds=feeds: shared.run(None, feeds), seconds, 10_000)
        elapsed = time.perf_counter() - started
        results.append(
            {
                "batch": batch,
                "sessions": 1,
                "intra_op_threads": "all",
                "items_per_s": batch * len(latencies) / sum(latencies),
                "latency": percentiles(latencies),
                "wall_s": elapsed,
            }
        )
        batch *= 2
    return results


def raw_shared(
    model_file: Path, item: Array, input_name: str, batch: int, seconds: float
) -> tuple[dict[str, Any], list[float]]:
    """One session with every core (ORT's own thread pool) at one batch size."""
    shared = session(model_file, 0)
    feeds = {input_name: np.repeat(item, batch, axis=0)}
    latencies = timed_loop(lambda: shared.run(None, feeds), seconds, 100_000)
    outcome = {
        "batch": batch,
        "sessions": 1,
        "intra_op_threads": "all",
        "items": batch * len(latencies),
        "elapsed_s": sum(latencies),
    }
    return outcome, latencies


def raw_per_core(
    model_file: Path, item: Array, input_name: str, workers: int, seconds: float
) -> tuple[dict[str, Any], list[float]]:
    sessions = [session(model_file, 1) for _ in range(workers)]
    feeds = {input_name: item}
    for each in sessions:
        each.run(None, feeds)
    latencies: list[list[float]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers + 1)

    def work(index: int) -> None:
        barrier.wait()
        latencies[index] = timed_loop(lambda: sessions[index].run(None, feeds), seconds, 100_000, warmup=0)

    threads = [threading.Thread(target=work, args=(index,), name=f"raw-{index}") for index in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    merged = [value for each in latencies for value in each]
    return {
        "batch": 1,
        "sessions": workers,
        "intra_op_threads": 1,
        "items": len(merged),
        "elapsed_s": elapsed,
    }, merged


# --- the gateway in its own process and HTTP clients --------------------------------------------


class GatewayProcess:
    def __init__(self, config: dict[str, Any], admission: dict[str, Any], camera: Path | None = None) -> None:
        command = [
            sys.executable,
            str(SERVING_SCRIPT),
            "serve",
            "--config",
            json.dumps(config, default=str),
            "--admission",
            json.dumps(admission),
        ]
        if camera is not None:
            command += ["--camera", str(camera)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"gateway did not start: {line!r}")
        self.port = int(line.split()[1])

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU time so far of the server's main thread (the event loop: HTTP, JSON,
        admission) and of all its other threads together (inference workers, the API's pool)."""
        ticks = os.sysconf("SC_CLK_TCK")
        result = {"event_loop": 0.0, "other_threads": 0.0}
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended while we looked
            key = "event_loop" if task.name == str(self.process.pid) else "other_threads"
            result[key] += (int(fields[11]) + int(fields[12])) / ticks
        return result

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def close(self) -> None:
        stop(self.process, wait_s=30)


class FloorProcess:
    """The transport floor (transport_floor.py) in its own process, answering every request with
    ``answer_body``."""

    def __init__(self, answer_body: bytes) -> None:
        command = [sys.executable, str(FLOOR_SCRIPT), "--answer-bytes", str(len(answer_body))]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(answer_body)
        self.process.stdin.flush()
        line = self.process.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the transport floor did not start: {line!r}")
        self.port = int(line.split()[1])

    def close(self) -> None:
        stop(self.process, wait_s=10)


def stop(process: subprocess.Popen[Any], *, wait_s: float) -> None:
    """Stop a server this benchmark started: closing its stdin is its signal to finish; killed when
    it has not within ``wait_s``."""
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def cpu_snapshot(server: GatewayProcess) -> dict[str, float]:
    """CPU seconds so far: the gateway's event loop and other threads, this process (the load
    generator), and the whole machine's busy and idle time, every core together (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle, steal = fields[3] + fields[4], fields[7]  # idle + iowait; time the hypervisor ran others
    return {
        **server.cpu_seconds(),
        "load_generator": time.process_time(),
        "machine_busy": (sum(fields) - idle - steal) / ticks,
        "idle": idle / ticks,
        "steal": steal / ticks,
        "at": time.perf_counter(),
    }


def cores_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Where the machine's cores went between two snapshots, in cores (CPU seconds per second): the
    gateway's event loop and its other threads (inference workers, the camera), the load generator,
    everything else that ran, what stayed idle, and what a virtual machine's host ran elsewhere
    instead (steal: a shared host's cores are not always this machine's)."""
    elapsed = after["at"] - before["at"]
    used = {
        key: (after[key] - before[key]) / elapsed
        for key in ("event_loop", "other_threads", "load_generator", "machine_busy", "idle", "steal")
    }
    return {
        "gateway_event_loop": used["event_loop"],
        "gateway_other_threads": used["other_threads"],
        "load_generator": used["load_generator"],
        "rest_of_machine": max(
            0.0, used["machine_busy"] - used["event_loop"] - used["other_threads"] - used["load_generator"]
        ),
        "idle": used["idle"],
        "stolen_by_the_host": used["steal"],
    }


@dataclass(frozen=True, slots=True)
class LightLoad:
    """Latencies of the paired light-load pass, in seconds, one of each per step."""

    raw: list[float]
    handed: list[float]
    """The same session run on a worker thread, handed there from the event loop and back: what any
    server with a pool of workers pays to wake a thread idle since the last item, and to be woken by
    it (a virtual machine's idle cores wake slowly)."""
    gateway: list[float]
    floor: list[float]
    """The same request to the transport floor (transport_floor.py): the client and the kernel."""
    raw_cpu_s: float


async def paired_light(
    port: int,
    floor_port: int,
    request: Request,
    *,
    model_file: Path,
    item: Array,
    input_name: str,
    seconds: float,
) -> LightLoad:
    """Light load, one request at a time, alternating raw ONNX Runtime (a single-thread session, as
    each gateway worker has; run here, then on a worker thread), the gateway and the transport floor
    request by request, so all four see the same moment of whatever else runs on the machine. Run it
    on the event loop the gateway runs on (gateway.api.event_loop.run), so that the hand-off back
    from the worker costs what it costs the gateway."""
    single = session(model_file, 1)
    feeds = {input_name: item}
    loop = asyncio.get_running_loop()
    worker = ThreadPoolExecutor(1, thread_name_prefix="light-worker")
    connection, floor_connection = Connection(port), Connection(floor_port)
    raw: list[float] = []
    handed: list[float] = []
    gateway: list[float] = []
    floor: list[float] = []
    raw_cpu = 0.0
    for _ in range(2):
        single.run(None, feeds)
        await loop.run_in_executor(worker, single.run, None, feeds)
        await connection.send(request)
        await floor_connection.send(request)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started, started_cpu = time.perf_counter(), time.thread_time()
        single.run(None, feeds)
        raw.append(time.perf_counter() - started)
        raw_cpu += time.thread_time() - started_cpu
        started = time.perf_counter()
        await loop.run_in_executor(worker, single.run, None, feeds)
        handed.append(time.perf_counter() - started)
        for target, latencies in ((connection, gateway), (floor_connection, floor)):
            started = time.perf_counter()
            reply = await target.send(request)
            if reply.status != 200:
                raise RuntimeError(f"light load got HTTP {reply.status}: {reply.body[:200]!r}")
            latencies.append(time.perf_counter() - started)
    connection.close()
    floor_connection.close()
    worker.shutdown()
    return LightLoad(raw, handed, gateway, floor, raw_cpu)


async def one_answer(port: int, request: Request) -> bytes:
    """The body of the gateway's answer to ``request`` (the transport floor answers with it)."""
    connection = Connection(port)
    try:
        reply = await connection.send(request)
    finally:
        connection.close()
    if reply.status != 200:
        raise RuntimeError(f"the gateway answered HTTP {reply.status}: {reply.body[:200]!r}")
    return reply.body


async def metrics_text(port: int) -> str:
    async with aiohttp.ClientSession() as client, client.get(f"http://127.0.0.1:{port}/metrics") as response:
        return await response.text()


def counter_value(text: str, name: str, labels: dict[str, str]) -> float:
    """One sample of a counter in Prometheus text, 0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()):
                return float(sample.value)
    return 0.0


def histogram_mean(before: str, after: str, name: str) -> float | None:
    """Mean of what a histogram observed between two scrapes (Prometheus text), every label set
    together; None when it observed nothing."""

    def totals(text: str) -> tuple[float, float]:
        total = count = 0.0
        for family in text_string_to_metric_families(text):
            if family.name != name:
                continue
            for sample in family.samples:
                if sample.name == f"{name}_sum":
                    total += sample.value
                elif sample.name == f"{name}_count":
                    count += sample.value
        return total, count

    (sum_before, count_before), (sum_after, count_after) = totals(before), totals(after)
    observed = count_after - count_before
    return (sum_after - sum_before) / observed if observed > 0 else None


async def server_latency(port: int, route: str) -> dict[str, dict[str, float]]:
    """Per status code: requests and the share answered within 1 ms and 2 ms, measured by the server
    itself (the API's latency histogram), i.e. without the client's and the scheduler's share."""
    text = await metrics_text(port)
    buckets: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "edge_gateway_http_request_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("route") != route:
                continue
            status = sample.labels["status"]
            entry = buckets.setdefault(status, {})
            if sample.name.endswith("_bucket") and sample.labels["le"] in ("0.001", "0.002"):
                entry[f"le_{sample.labels['le']}"] = sample.value
            elif sample.name.endswith("_count"):
                entry["count"] = sample.value
            elif sample.name.endswith("_sum"):
                entry["sum"] = sample.value
    return buckets


def difference(
    after: dict[str, dict[str, float]], before: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    result = {}
    for status, entry in after.items():
        previous = before.get(status, {})
        delta = {key: value - previous.get(key, 0.0) for key, value in entry.items()}
        if delta.get("count", 0) > 0:
            delta["share_within_1ms"] = delta.get("le_0.001", 0.0) / delta["count"]
            delta["share_within_2ms"] = delta.get("le_0.002", 0.0) / delta["count"]
            delta["mean_ms"] = 1000 * delta.get("sum", 0.0) / delta["count"]
            result[status] = delta
    return result
