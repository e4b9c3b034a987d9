"""Peer benchmark: raw in-process ONNX Runtime, the gateway and NVIDIA Triton, side by side in one
run, on the same model file, with the same client.

    python bench/peers.py            # face-detector, 1 and 4 closed-loop clients, 10 s each

- raw: the model in-process, one single-threaded ONNX Runtime session shared by N threads (the
  ceiling, no HTTP at all), in a fresh process so its RSS and CPU are its own;
- gateway: ``bench/serving.py serve`` with the default config (one worker per core, default
  admission), driven over HTTP;
- Triton: ``bench/triton_peer.py``, NVIDIA Triton from the ``nvidia-pytriton`` wheel (0.7.0): its
  Python backend calling ONNX Runtime, one model instance per core (each a single-threaded session),
  the dynamic batcher on. pytriton needs numpy < 2, so it lives in its own virtual environment,
  ``.venv-triton``, which this command creates on its first run (pip; it is never a dependency of
  the gateway). pytriton's backend stub links the system's libpython; it is pointed at this
  interpreter's own with LD_LIBRARY_PATH, or its embedded interpreter fails on a mismatched stdlib.

The client for both servers is ``tritonclient.http`` with binary tensors (input and output), one
client per thread, closed loop. Per server: throughput, latency p50/p99, server CPU per item (every
process of the server's tree: Triton's server, its backend stubs and pytriton's proxy count) and
the RSS summed over that tree. Writes ``peers.json`` and ``peers.md`` under ``--output``, with the
load average of each phase; the client shares the machine's cores with the server it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_load import percentiles  # noqa: E402
from bench.serving_load import GatewayProcess, session  # noqa: E402
from bench.shipped_model import gateway_config, scratch_repository  # noqa: E402

TRITON_VENV = ROOT / ".venv-triton"
TRITON_PACKAGES = ("nvidia-pytriton==0.7.0", "numpy<2")
TICKS = os.sysconf("SC_CLK_TCK")


# --- processes ------------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending += children.get(current, [])
    return found


def tree_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) summed over ``pid``'s process tree."""
    cpu = rss = 0.0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / TICKS
        rss += (
            next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            / 1024
        )
    return cpu, rss


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- clients --------------------------------------------------------------------------------------


def closed_loop(call: Callable[[], bool], clients: int, seconds: float) -> tuple[dict[str, Any], list[float]]:
    """``clients`` threads, each calling ``call`` back to back for ``seconds``; a call that returns
    False was refused (429/503), and its thread waits a second, as Retry-After asks, before the next."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    refused = [0] * clients
    barrier = threading.Barrier(clients + 1)
    end = [0.0]

    def run(index: int) -> None:
        call()  # each thread's first call warms its connection
        barrier.wait()
        while time.perf_counter() < end[0]:
            started = time.perf_counter()
            if call():
                latencies[index].append(time.perf_counter() - started)
            else:
                refused[index] += 1
                time.sleep(min(1.0, max(0.0, end[0] - time.perf_counter())))

    threads = [
        threading.Thread(target=run, args=(index,), name=f"client-{index}") for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    end[0] = time.perf_counter() + seconds
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    merged = [value for each in latencies for value in each]
    summary = {"clients": clients, "items_per_s": len(merged) / elapsed, "latency": percentiles(merged)}
    return summary | {"refused": sum(refused)}, merged


def triton_call(port: int, model: str, input_name: str, output_name: str, item: Any) -> Callable[[], bool]:
    """One request with ``tritonclient.http``, binary in and out, on this thread's own client; False
    when the server refused it with 429 or 503."""
    import tritonclient.http as triton  # noqa: PLC0415 - a test extra, only this benchmark needs it
    from tritonclient.utils import InferenceServerException  # noqa: PLC0415

    local = threading.local()

    def call() -> bool:
        if not hasattr(local, "client"):
            local.client = triton.InferenceServerClient(f"127.0.0.1:{port}", network_timeout=60.0)
            local.input = triton.InferInput(input_name, list(item.shape), "FP32")
            local.input.set_data_from_numpy(item, binary_data=True)
            local.output = triton.InferRequestedOutput(output_name, binary_data=True)
        try:
            result = local.client.infer(model, [local.input], outputs=[local.output])
        except InferenceServerException as exc:
            if exc.status() in ("429", "503"):
                return False
            raise
        if result.as_numpy(output_name) is None:
            raise RuntimeError("no output in the answer")
        return True

    return call


def measure_server(
    pid: int, call: Callable[[], bool], clients: Sequence[int], seconds: float
) -> list[dict[str, Any]]:
    rows = []
    for count in clients:
        cpu_before, _ = tree_usage(pid)
        outcome, latencies = closed_loop(call, count, seconds)
        cpu_after, rss = tree_usage(pid)
        outcome.update(
            {
                "server_cpu_ms_per_item": 1000 * (cpu_after - cpu_before) / max(1, len(latencies)),
                "server_rss_mb": rss,
                "load_average": os.getloadavg()[0],
            }
        )
        print(f"  {count} clients: {outcome['items_per_s']:.1f} items/s", flush=True)
        rows.append(outcome)
    return rows


# --- the three servers ----------------------------------------------------------------------------


def raw_main(arguments: argparse.Namespace) -> int:
    """``peers.py raw``: the in-process loop, in its own process; prints its rows as JSON."""
    model_file, input_name, item = model_input(arguments)
    engine = session(model_file, 1)
    feeds = {input_name: item}
    rows = []
    for count in arguments.clients:
        started_cpu = time.process_time()
        outcome, latencies = closed_loop(lambda: bool(engine.run(None, feeds)), count, arguments.seconds)
        outcome.update(
            {
                "server_cpu_ms_per_item": 1000 * (time.process_time() - started_cpu) / max(1, len(latencies)),
                "server_rss_mb": tree_usage(os.getpid())[1],
                "load_average": os.getloadavg()[0],
            }
        )
        rows.append(outcome)
    print(json.dumps(rows))
    return 0


def run_raw(arguments: argparse.Namespace) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        __file__,
        "raw",
        "--model",
        arguments.model,
        "--seconds",
        str(arguments.seconds),
    ]
    command += ["--clients", *map(str, arguments.clients)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rows: list[dict[str, Any]] = json.loads(output.strip().splitlines()[-1])
    return rows


def run_gateway(arguments: argparse.Namespace) -> list[dict[str, Any]]:
    model_file, input_name, item = model_input(arguments)
    with tempfile.TemporaryDirectory() as scratch:
        repository = scratch_repository(Path(scratch))
        (repository / arguments.model).symlink_to(model_file.parent.parent, target_is_directory=True)
        server = GatewayProcess(gateway_config(Path(scratch), device_id="peers"), {})
        try:
            call = triton_call(server.port, arguments.model, input_name, arguments.output_name, item)
            return measure_server(server.process.pid, call, arguments.clients, arguments.seconds)
        finally:
            server.close()


def triton_python() -> Path:
    """The Triton side's interpreter, creating ``.venv-triton`` on first use."""
    python = TRITON_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {TRITON_VENV.name} with {', '.join(TRITON_PACKAGES)} (first run only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TRITON_VENV)], check=True)
        import onnxruntime  # noqa: PLC0415 - the same ONNX Runtime version on both sides

        packages = [*TRITON_PACKAGES, f"onnxruntime=={onnxruntime.__version__}"]
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
    return python


def run_triton(arguments: argparse.Namespace) -> list[dict[str, Any]] | str:
    """Triton's rows, or why it could not run (the error, as text)."""
    model_file, input_name, item = model_input(arguments)
    try:
        python = triton_python()
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"creating {TRITON_VENV.name} failed: {exc}"
    ports = [free_port() for _ in range(3)]
    instances = len(os.sched_getaffinity(0))
    command = [str(python), str(ROOT / "bench" / "triton_peer.py"), str(model_file), arguments.model]
    command += [input_name, arguments.output_name, str(instances), *map(str, ports)]
    environment = {**os.environ, "LD_LIBRARY_PATH": str(sysconfig.get_config_var("LIBDIR"))}
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=environment
        )
        try:
            assert process.stdout is not None
            # pytriton and Triton also print to stdout; the line we wait for is ours.
            line = process.stdout.readline()
            while line and not line.startswith("READY"):
                line = process.stdout.readline()
            if not line.startswith("READY"):
                process.wait(30)
                log.seek(0)
                errors = [text for text in log.read().splitlines() if "rror" in text]
                return f"Triton did not start (exit {process.returncode}): {' | '.join(errors[-5:])[:1500]}"
            call = triton_call(ports[0], arguments.model, input_name, arguments.output_name, item)
            return measure_server(process.pid, call, arguments.clients, arguments.seconds)
        finally:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def model_input(arguments: argparse.Namespace) -> tuple[Path, str, Any]:
    model_dir = ROOT / "models" / arguments.model
    version = max(int(path.name) for path in model_dir.iterdir() if path.name.isdigit())
    model_file = model_dir / str(version) / "model.onnx"
    probe = session(model_file, 1)
    spec = probe.get_inputs()[0]
    arguments.output_name = probe.get_outputs()[0].name
    dims = [arguments.size if not isinstance(dim, int) or dim < 1 else dim for dim in spec.shape[1:]]
    return model_file, spec.name, np.random.default_rng(0).random((1, *dims), dtype=np.float32)


# --- report ---------------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Peers: raw ONNX Runtime, the gateway, NVIDIA Triton",
        "",
        f"Command (from the repository root, venv active): `{result['command']}`",
        "",
        f"{result['date']}; {result['cores']} cores, model `{result['model']}` (one file for all three), "
        "client `tritonclient.http`, binary tensors, closed loop, on the same cores as the servers. "
        f"Load average {result['load_average_at_start']:.2f} at start (the machine is shared).",
        "",
        "| server | clients | items/s | p50 ms | p99 ms | refused | server CPU ms/item | server RSS MiB "
        "| load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in result["servers"].items():
        if isinstance(rows, str):
            lines.append(f"| {name} | - | not run: {rows} | | | | | | |")
            continue
        for row in rows:
            latency = row["latency"]
            lines.append(
                f"| {name} | {row['clients']} | {row['items_per_s']:.2f} | {latency['p50_ms']:.2f} "
                f"| {latency['p99_ms']:.2f} | {row['refused']} | {row['server_cpu_ms_per_item']:.2f} "
                f"| {row['server_rss_mb']:.0f} | {row['load_average']:.2f} |"
            )
    lines += [
        "",
        "raw: in-process, no HTTP, one single-threaded session shared by the client threads. gateway: "
        "default config (refused: 503 from latency-aware admission; the client waits 1 s, as "
        "Retry-After says, and sends again). Triton: pytriton 0.7.0 (Triton 2.51), Python backend, "
        "one instance per core, dynamic batching. CPU and RSS are summed over each server's process tree.",
        "",
    ]
    return "\n".join(lines)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "raw"])
    parser.add_argument("--model", default="face-detector")
    parser.add_argument("--size", type=int, default=320, help="for dynamic height/width")
    parser.add_argument("--seconds", type=float, default=10.0, help="per server and client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--skip-triton", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.mode == "raw":
        return raw_main(arguments)
    load_average = os.getloadavg()[0]
    servers: dict[str, list[dict[str, Any]] | str] = {}
    print("raw ONNX Runtime", flush=True)
    servers["raw ONNX Runtime (in-process)"] = run_raw(arguments)
    print("gateway", flush=True)
    servers["gateway"] = run_gateway(arguments)
    print("Triton", flush=True)
    servers["Triton (pytriton)"] = (
        "skipped (--skip-triton)" if arguments.skip_triton else run_triton(arguments)
    )
    result = {
        "command": " ".join(["python", "bench/peers.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": len(os.sched_getaffinity(0)),
        "model": arguments.model,
        "load_average_at_start": load_average,
        "servers": servers,
    }
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "peers.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (output / "peers.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
