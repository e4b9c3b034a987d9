"""The gateway side of bench/request_cpu.py: the server process it drives over stdin (profiler on and
off, a feeder that keeps the workers busy so that requests are refused) and the client's handle on
it, and the I/O-only model that lets only the request path cost CPU.

Imported by request_cpu.py after it has put the checkout under test first on ``sys.path``, so that
a server for ``--against`` runs that checkout's gateway; what such a checkout lacks falls back.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app, serve
from gateway.config import AdmissionConfig, GatewayConfig, HttpConfig
from gateway.inference.model_config import load_model_config
from gateway.inference.service import InferenceService

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
SCRIPT = Path(__file__).resolve().with_name("request_cpu.py")


def default_loop() -> str:
    """The loop ``edge-gateway serve`` would pick here."""
    return loop_name() if loop_name is not None else "asyncio"


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
        command = [sys.executable, str(SCRIPT), "--model", model, "--loop", loop, "serve"]
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
        fields = self._loop_stat()
        ticks = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / ticks, int(fields[12]) / ticks

    def loop_page_faults(self) -> int:
        """Page faults (minor and major) the event-loop thread has taken so far."""
        fields = self._loop_stat()
        return int(fields[7]) + int(fields[9])

    def _loop_stat(self) -> list[str]:
        """The event-loop thread's /proc stat fields after its name (the first is its state)."""
        pid = self.process.pid
        return Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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
