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
import json
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# The server of a ``--against`` variant runs another checkout's gateway: its root comes first.
CODE = Path(os.environ.get("REQUEST_CPU_CODE", str(ROOT)))
for path in (ROOT, CODE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench.http_load import Connection, Request  # noqa: E402
from bench.request_cpu_report import by_package, markdown, portable, top_functions  # noqa: E402
from bench.request_cpu_server import Server, default_loop, serve_main, write_io_model  # noqa: E402
from bench.serve_mode import run_mode, serve_mode_parser  # noqa: E402
from bench.shipped_model import ShippedModel, gateway_config, scratch_repository  # noqa: E402


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
    faults: int = 0
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
            faults_before = server.loop_page_faults()
            client_before = time.process_time()
            outcome = asyncio.run(
                send_all(server.port, request, per_block, want, expect_continue=expect_continue)
            )
            entry.client_s += time.process_time() - client_before
            entry.loop_s += server.loop_cpu_s() - loop_before
            entry.faults += server.loop_page_faults() - faults_before
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
            "loop_page_faults_per_request": entry.faults / requests,
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


def bench_main(arguments: argparse.Namespace) -> int:
    model = ShippedModel.named(arguments.model)
    spec = model.config.inputs[0]
    shape = model.input_shape(arguments.size)
    request = model.request(arguments.size)
    count = arguments.requests
    phases: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        repository = scratch_repository(scratch)
        if arguments.io_only:
            write_io_model(model.folder, shape, repository / arguments.model)
        else:
            model.link_into(repository)
        config = gateway_config(scratch)
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
        "command": " ".join(["python", "bench/request_cpu.py", *portable(sys.argv[1:])]),
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


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser, serve_parser = serve_mode_parser(__doc__)
    serve_parser.add_argument("--input-name", required=True)
    serve_parser.add_argument("--shape", required=True)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument(
        "--loops",
        default=default_loop(),
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
    return run_mode(parse_arguments(argv), serve_main, bench_main)


if __name__ == "__main__":
    sys.exit(main())
