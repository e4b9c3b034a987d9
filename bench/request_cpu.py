"""Event-loop CPU per /v2 infer request, admitted and refused, and where it goes (calls by package).

The gateway's event loop shares the cores with the inference workers, so every millisecond it
spends on a request is taken from inference. This measures that cost directly, as CPU time of the
event-loop thread (``/proc/<pid>/task/<pid>/schedstat``, nanoseconds), not as wall throughput, so
the figure holds on a shared machine; the load average is recorded beside every phase anyway.

The gateway runs in its own process with the default config (the shipped face-detector at 320x320,
binary tensors, one worker per core, default admission). One client on 127.0.0.1 (the lean client
of http_load.py) sends ``--requests`` requests one after another in each phase:

- ``admitted``: every request runs the model (200);
- ``refused``: a feeder thread inside the server keeps a few items queued (below the watermark), so
  every request's expected wait is over its budget and it is refused (503) from its headers; the
  client sends the whole 1.2 MB body at once, as a client that does not ask ``Expect`` does;
- ``refused_expect``: the same with ``Expect: 100-continue`` (no body sent).

Each phase runs twice: once measured (CPU per request, no profiler) and once under cProfile on the
event-loop thread only (Python calls per request, and the top functions by own time).

``--io-only`` serves a model with the same input and output that computes nothing, so that only
the request path costs CPU (admitted phase). ``--against LABEL=ROOT`` runs another checkout's
gateway alongside (``git archive main | tar -x -C ROOT``), the variants alternating in blocks.

Writes ``request_cpu.json`` and ``request_cpu.md`` (``request_cpu_io_only.*`` with ``--io-only``)
under ``--output``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
# The server of a ``--against`` variant runs another checkout's gateway: its root comes first.
CODE = Path(os.environ.get("REQUEST_CPU_CODE", str(ROOT)))
for path in (ROOT, CODE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench.http_load import Connection, Request  # noqa: E402
from gateway.api.app import create_app, serve  # noqa: E402
from gateway.api.tensors import encode_binary_request  # noqa: E402
from gateway.config import AdmissionConfig, GatewayConfig, HttpConfig  # noqa: E402
from gateway.inference.model_config import load_model_config  # noqa: E402
from gateway.inference.service import InferenceService  # noqa: E402

try:
    from gateway.heap import keep_freed_memory_between_trims
except ImportError:  # a checkout from before serve fixed glibc's thresholds

    def keep_freed_memory_between_trims() -> bool:
        return False


try:
    from gateway.api.event_loop import loop_name
    from gateway.api.event_loop import run as run_loop
except ImportError:  # a checkout from before the gateway chose its loop: asyncio's
    loop_name = None  # type: ignore[assignment]
    run_loop = None  # type: ignore[assignment]

QUEUED_WHILE_BUSY = 6
"""Items the feeder keeps waiting: above one service time of wait, far below the watermark."""
TOP_FUNCTIONS = 25

# --- the gateway, in its own process, driven over stdin -------------------------------------------


def serve_main(arguments: argparse.Namespace) -> int:
    config = GatewayConfig.model_validate(json.loads(arguments.config))
    keep_freed_memory_between_trims()  # as ``edge-gateway serve`` does
    registry = CollectorRegistry()
    service = InferenceService.from_config(config, registry)
    service.start()
    model = arguments.model
    inputs = {arguments.input_name: np.zeros(json.loads(arguments.shape), dtype=np.float32)}
    busy = threading.Event()
    stopped = threading.Event()

    def feed() -> None:
        """Keep a few items queued while ``busy``, straight into the service (no HTTP)."""
        while not stopped.is_set():
            if not busy.wait(0.1):
                continue
            if len(service.batcher.queued()) < QUEUED_WHILE_BUSY:
                service.infer(model, None, inputs, None)
            else:
                time.sleep(0.002)

    feeder = threading.Thread(target=feed, name="bench-feeder", daemon=True)
    feeder.start()

    async def run() -> None:
        app = create_app(
            http=HttpConfig(port=0),
            # The default admission but for the rate limit: one client sending refused requests back
            # to back outruns 200/s; the bucket is still taken from, at the same cost.
            admission=AdmissionConfig(rate_per_s=1e6, burst=1_000_000),
            inference=service,
            cameras=None,
            events=None,
            registry=registry,
        )
        server = await serve(app, "127.0.0.1", 0)
        loop_kind = type(asyncio.get_running_loop()).__module__.split(".")[0]
        print(f"PORT {server.port} LOOP {loop_kind} CODE {Path(create_app.__code__.co_filename)}", flush=True)
        # Thread CPU time, not wall time: a function waiting for the GIL or the socket costs nothing.
        profiler = cProfile.Profile(time.thread_time)
        done = asyncio.Event()
        pending = b""

        def command() -> None:
            nonlocal pending
            data = os.read(sys.stdin.fileno(), 4096)
            if not data:
                done.set()
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                verb, _, argument = line.decode().partition(" ")
                if verb == "profile":
                    profiler.enable()
                elif verb == "dump":
                    profiler.disable()
                    profiler.dump_stats(argument)
                    profiler.clear()
                elif verb == "busy":
                    busy.set()
                elif verb == "idle":
                    busy.clear()
                print("ok", flush=True)

        asyncio.get_running_loop().add_reader(sys.stdin.fileno(), command)
        await done.wait()
        await server.close()

    try:
        if run_loop is None:
            asyncio.run(run())
        else:
            run_loop(run(), prefer_uvloop=arguments.loop == "uvloop")
    finally:
        stopped.set()
        service.stop()
    return 0


class Server:
    def __init__(
        self, config: dict[str, Any], *, model: str, input_name: str, shape: list[int], loop: str, code: Path
    ) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--model", model, "--loop", loop, "serve"]
        command += ["--config", json.dumps(config), "--input-name", input_name, "--shape", json.dumps(shape)]
        environment = dict(os.environ, REQUEST_CPU_CODE=str(code))
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment
        )
        line = self._line()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"gateway did not start: {line!r}")
        parts = line.split()
        self.port, self.loop = int(parts[1]), parts[3]
        if not Path(parts[5]).is_relative_to(code):
            raise RuntimeError(f"the server for {code} runs the gateway from {parts[5]}")

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline()

    def tell(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        if self._line().strip() != "ok":
            raise RuntimeError(f"server did not acknowledge {command!r}")

    def busy(self, busy: bool) -> None:
        """Start (and let settle) or stop the feeder that keeps this server's workers busy."""
        self.tell("busy" if busy else "idle")
        if busy:
            time.sleep(0.3)

    def loop_cpu_s(self) -> float:
        """CPU time of the event-loop (main) thread so far, in seconds, to the nanosecond."""
        pid = self.process.pid
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0]) / 1e9

    def loop_user_system_s(self) -> tuple[float, float]:
        """User and system CPU of the event-loop thread so far (clock ticks: coarser than schedstat)."""
        pid = self.process.pid
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / ticks, int(fields[12]) / ticks

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- phases --------------------------------------------------------------------------------------


async def send_all(
    port: int, request: Request, count: int, want: int, *, expect_continue: bool = False
) -> dict[str, Any]:
    connection = Connection(port)
    statuses: dict[int, int] = defaultdict(int)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        reply = await connection.send(request, expect_continue=expect_continue)
        latencies.append(time.perf_counter() - started)
        statuses[reply.status] += 1
    connection.close()
    # The feeder may let the queue run short for a moment: a stray answer of the other kind costs
    # the average little, many would mean the phase measured the wrong thing.
    if statuses.get(want, 0) < 0.98 * count:
        raise RuntimeError(f"wanted {count} answers {want}, got {dict(statuses)}")
    return {"p50_ms": 1000 * float(np.median(latencies)), "statuses": dict(statuses)}


def by_package(stats: pstats.Stats, requests: int) -> dict[str, dict[str, float]]:
    """Python calls and own CPU per request, grouped by the package the function lives in."""
    groups: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (filename, _, _), (_, calls, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        groups[_package(filename)][0] += calls
        groups[_package(filename)][1] += own
    return {
        name: {"calls": calls / requests, "own_us": 1e6 * own / requests}
        for name, (calls, own) in sorted(groups.items(), key=lambda entry: -entry[1][1])
    }


def _package(filename: str) -> str:
    if filename.startswith("<") or filename == "~":
        return "builtins"
    parts = Path(filename).parts
    for marker in ("site-packages", "gateway"):
        if marker in parts:
            index = parts.index(marker)
            return parts[index + 1].removesuffix(".py") if marker == "site-packages" else "gateway"
    if "lib" in parts:
        return "stdlib:" + parts[-1].removesuffix(".py")
    return parts[-1]


def top_functions(stats: pstats.Stats, requests: int) -> list[dict[str, Any]]:
    rows = []
    for (filename, line, function), (_, calls, own, total, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{_package(filename)}:{Path(filename).name}:{line}({function})",
                "calls": calls / requests,
                "own_us": 1e6 * own / requests,
                "cumulative_us": 1e6 * total / requests,
            }
        )
    rows.sort(key=lambda row: -row["own_us"])
    return rows[:TOP_FUNCTIONS]


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    status: int
    expect_continue: bool


PHASES = (Phase("admitted", 200, False), Phase("refused", 503, False), Phase("refused_expect", 503, True))


@dataclass(slots=True)
class Totals:
    loop_s: float = 0.0
    user_s: float = 0.0
    system_s: float = 0.0
    client_s: float = 0.0
    p50_ms: list[float] = field(default_factory=list)


def measure(
    servers: dict[str, Server], request: Request, phase: Phase, *, count: int, blocks: int
) -> dict[str, dict[str, Any]]:
    """Every server in turn, ``blocks`` times ``count / blocks`` requests each, so that whatever else
    the machine runs weighs on every variant alike."""
    want, expect_continue = phase.status, phase.expect_continue
    totals = {name: Totals() for name in servers}
    loads = [os.getloadavg()[0]]
    per_block = max(1, count // blocks)
    for _ in range(blocks):
        for name, server in servers.items():
            entry = totals[name]
            if want == 503:
                server.busy(True)
            loop_before, (user_before, system_before) = server.loop_cpu_s(), server.loop_user_system_s()
            client_before = time.process_time()
            outcome = asyncio.run(
                send_all(server.port, request, per_block, want, expect_continue=expect_continue)
            )
            entry.client_s += time.process_time() - client_before
            entry.loop_s += server.loop_cpu_s() - loop_before
            user_after, system_after = server.loop_user_system_s()
            entry.user_s += user_after - user_before
            entry.system_s += system_after - system_before
            entry.p50_ms.append(outcome["p50_ms"])
            if want == 503:
                server.busy(False)
        loads.append(os.getloadavg()[0])
    requests = per_block * blocks
    return {
        name: {
            "requests": requests,
            "status": want,
            "loop_cpu_ms_per_request": 1000 * entry.loop_s / requests,
            "loop_system_share": entry.system_s / max(1e-9, entry.user_s + entry.system_s),
            "client_cpu_ms_per_request": 1000 * entry.client_s / requests,
            "client_p50_ms": float(np.median(entry.p50_ms)),
            "load_average": [min(loads), max(loads)],
        }
        for name, entry in totals.items()
    }


def profile(server: Server, request: Request, phase: Phase, *, count: int, path: Path) -> dict[str, Any]:
    server.busy(phase.status == 503)
    server.tell("profile")
    asyncio.run(send_all(server.port, request, count, phase.status, expect_continue=phase.expect_continue))
    server.tell(f"dump {path}")
    server.busy(False)
    stats = pstats.Stats(str(path))
    return {
        "python_calls_per_request": stats.total_calls / count,  # type: ignore[attr-defined]
        "profiled_cpu_ms_per_request": 1000 * stats.total_tt / count,  # type: ignore[attr-defined]
        "by_package": by_package(stats, count),
        "top_functions": top_functions(stats, count),
    }


def variants(arguments: argparse.Namespace) -> dict[str, tuple[str, Path]]:
    """Label -> (event loop, code root): each ``--against LABEL=ROOT[@LOOP]`` (another checkout,
    asyncio unless told), then this checkout on each of ``--loops``."""
    chosen: dict[str, tuple[str, Path]] = {}
    for spec in arguments.against:
        label, _, rest = spec.partition("=")
        root, _, loop = rest.partition("@")
        if not label or not root:
            raise SystemExit(f"--against takes LABEL=ROOT[@LOOP], got {spec!r}")
        chosen[f"{label}, {loop or 'asyncio'}"] = (loop or "asyncio", Path(root).resolve())
    chosen.update({f"this tree, {loop}": (loop, ROOT) for loop in arguments.loops.split(",")})
    return chosen


def write_io_model(model_dir: Path, shape: list[int], target: Path) -> None:
    """A model with the I/O of ``model_dir``'s first input and output that computes nothing (the
    first values of each item, reshaped), so that only the request path costs CPU."""
    config = load_model_config(model_dir / "model.yaml")
    source, result = config.inputs[0], config.outputs[0]
    values = int(np.prod(result.dims))
    if values > int(np.prod(shape[1:])):
        raise SystemExit(f"{model_dir.name}: its output is larger than its input; no I/O model")
    constants = {
        "flat_shape": [0, -1],
        "starts": [0],
        "ends": [values],
        "axes": [1],
        "out_shape": [-1, *result.dims],
    }
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", [source.name, "flat_shape"], ["flat"]),
            helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["part"]),
            helper.make_node("Reshape", ["part", "out_shape"], [result.name]),
        ],
        "io_only",
        [helper.make_tensor_value_info(source.name, TensorProto.FLOAT, ["batch", *shape[1:]])],
        [helper.make_tensor_value_info(result.name, TensorProto.FLOAT, ["batch", *result.dims])],
        [numpy_helper.from_array(np.array(value, dtype=np.int64), name) for name, value in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (target / "1").mkdir(parents=True)
    onnx.save(model, str(target / "1" / "model.onnx"))
    dims = ", ".join(str(dim) for dim in shape[1:])
    out = ", ".join(str(dim) for dim in result.dims)
    (target / "model.yaml").write_text(
        f"platform: onnxruntime_onnx\nmax_batch_size: {config.max_batch_size}\n"
        f"inputs:\n  - {{name: {source.name}, datatype: FP32, dims: [{dims}]}}\n"
        f"outputs:\n  - {{name: {result.name}, datatype: FP32, dims: [{out}]}}\n"
    )


def bench_main(arguments: argparse.Namespace) -> int:
    model_dir = (ROOT / "models" / arguments.model).resolve()
    spec = load_model_config(model_dir / "model.yaml").inputs[0]
    shape = [1, *(arguments.size if dim == -1 else dim for dim in spec.dims)]
    item = np.random.default_rng(0).random(shape, dtype=np.float32)
    body, headers = encode_binary_request({spec.name: item})
    request = Request(f"/v2/models/{arguments.model}/infer", body, headers)
    count = arguments.requests
    phases: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        repository = scratch / "models"
        repository.mkdir()
        if arguments.io_only:
            write_io_model(model_dir, shape, repository / arguments.model)
        else:
            (repository / arguments.model).symlink_to(model_dir, target_is_directory=True)
        config = {
            "device_id": "bench",
            "state_dir": str(scratch / "state"),
            "models": {"repository": str(repository), "preload": "all"},
            "inference": {"providers": ["cpu"]},
        }
        servers: dict[str, Server] = {}
        try:
            for label, (loop, code) in variants(arguments).items():
                servers[label] = Server(
                    config, model=arguments.model, input_name=spec.name, shape=shape, loop=loop, code=code
                )
            loops = {label: server.loop for label, server in servers.items()}
            for server in servers.values():
                asyncio.run(send_all(server.port, request, 20, 200))  # warm connections, model, caches
            profiles = Path(arguments.profiles) if arguments.profiles else scratch
            profiles.mkdir(parents=True, exist_ok=True)
            for phase in (phase for phase in PHASES if phase.name in arguments.phases.split(",")):
                phases[phase.name] = measure(servers, request, phase, count=count, blocks=arguments.blocks)
                for index, (label, server) in enumerate(servers.items()):
                    path = profiles / f"{phase.name}-{index}.prof"
                    phases[phase.name][label].update(profile(server, request, phase, count=count, path=path))
        finally:
            for server in servers.values():
                server.close()
    result = {
        "command": " ".join(["python", "bench/request_cpu.py", *_portable(sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "model": arguments.model + (" (I/O only: computes nothing)" if arguments.io_only else ""),
        "input_shape": shape,
        "event_loops": loops,
        "python": sys.version.split()[0],
        "phases": phases,
    }
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    stem = "request_cpu_io_only" if arguments.io_only else "request_cpu"
    (output / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (output / f"{stem}.md").write_text(text)
    print(text)
    return 0


def _portable(argv: Sequence[str]) -> list[str]:
    """The command line with each ``--against`` checkout's path written as ROOT."""
    result = []
    for index, part in enumerate(argv):
        if index > 0 and argv[index - 1] == "--against" and "=" in part:
            label, _, rest = part.partition("=")
            loop = rest.partition("@")[2]
            result.append(f"{label}=ROOT" + (f"@{loop}" if loop else ""))
        else:
            result.append(part)
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Event-loop CPU per /v2 infer request",
        "",
        f"Command: `{result['command']}`",
        "",
        f"{result['date']}; Python {result['python']}, model `{result['model']}` "
        f"input {result['input_shape']} FP32 as binary tensors, one sequential client on 127.0.0.1, "
        "the variants alternating in blocks. CPU is the event-loop thread's own (schedstat), "
        "without the profiler; calls are cProfile's on the event-loop thread, in a second pass. "
        "Default config and admission, but `admission.rate_per_s` raised so that one client's "
        "back-to-back refusals stay 503s.",
        "",
        "| phase | variant | requests | loop CPU ms/request | of it in the kernel | Python calls/request | "
        "client CPU ms/request | client p50 ms | load average |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, entries in result["phases"].items():
        for label, entry in entries.items():
            load = " - ".join(f"{value:.2f}" for value in entry["load_average"])
            lines.append(
                f"| {name} ({entry['status']}) | {label} | {entry['requests']} | "
                f"{entry['loop_cpu_ms_per_request']:.3f} | {entry['loop_system_share']:.0%} | "
                f"{entry['python_calls_per_request']:.0f} | {entry['client_cpu_ms_per_request']:.3f} | "
                f"{entry['client_p50_ms']:.2f} | {load} |"
            )
    for name, entries in result["phases"].items():
        for label, entry in entries.items():
            lines += ["", f"## {name}, {label}: by package (per request, under the profiler)", ""]
            lines += ["| package | calls | own µs |", "|---|---:|---:|"]
            lines += [
                f"| {package} | {values['calls']:.1f} | {values['own_us']:.1f} |"
                for package, values in entry["by_package"].items()
                if values["calls"] >= 0.5
            ]
            lines += ["", "| function | calls | own µs | cumulative µs |", "|---|---:|---:|---:|"]
            lines += [
                f"| `{row['function']}` | {row['calls']:.1f} | {row['own_us']:.1f} "
                f"| {row['cumulative_us']:.1f} |"
                for row in entry["top_functions"]
            ]
    return "\n".join(lines) + "\n"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode")
    serve_parser = sub.add_parser("serve", help="internal: run the gateway for the benchmark")
    serve_parser.add_argument("--config", required=True)
    serve_parser.add_argument("--input-name", required=True)
    serve_parser.add_argument("--shape", required=True)
    parser.add_argument("--model", default="face-detector")
    parser.add_argument("--size", type=int, default=320, help="for dynamic height/width")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument(
        "--loops",
        default=loop_name() if loop_name is not None else "asyncio",
        help="event loops to run this tree's gateway on, comma-separated (default: the gateway's choice)",
    )
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="LABEL=ROOT[@LOOP]",
        help="another checkout (e.g. `git archive main | tar -x -C DIR`), run alongside; repeatable",
    )
    parser.add_argument(
        "--io-only",
        action="store_true",
        help="serve a model with --model's input and output that computes nothing (admitted phase only: "
        "no queue forms for refusals)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(phase.name for phase in PHASES),
        help="which of them, comma-separated (refusals need a model slow enough to keep a queue)",
    )
    parser.add_argument("--blocks", type=int, default=5, help="alternations between the variants per phase")
    parser.add_argument("--requests", type=int, default=300, help="per phase and pass")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--profiles", default="", help="keep the cProfile files (pstats) in this folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.mode == "serve":
        return serve_main(arguments)
    return bench_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
