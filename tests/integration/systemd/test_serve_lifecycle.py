"""The real ``edge-gateway serve`` under a minimal sd_notify listener, the way systemd runs it:
READY once warm, periodic WATCHDOG, RELOADING/READY on SIGHUP, STOPPING and exit 0 on SIGTERM, and
no WATCHDOG once the pipeline is wedged (an inference worker stuck in one batch)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from onnx import TensorProto, helper

from tests.integration.systemd.notify_listener import NotifyListener
from tests.support.onnx_models import write_model_file, write_model_yaml

REPOSITORY = Path(__file__).resolve().parents[3]
MODEL = "face-detector"
CLIP = REPOSITORY / "build" / "demo" / "clip.mp4"
WATCHDOG_USEC = 2_000_000  # pings every second
READY_TIMEOUT_S = 120.0  # models load and warm on a shared 2-core machine
STOP_BUDGET_S = 10.0
STUCK_AFTER_S = 5.0


def write_config(directory: Path, cameras: list[dict[str, object]], models: Path | None = None) -> Path:
    path = directory / "gateway.yaml"
    config = {
        "device_id": "lifecycle",
        "state_dir": str(directory / "state"),
        "http": {"host": "127.0.0.1", "port": 0},
        "models": {"repository": str(models or REPOSITORY / "models")},
        "cameras": cameras,
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Service:
    """``edge-gateway serve`` started as systemd starts a Type=notify service with WatchdogSec=."""

    def __init__(
        self, config: Path, listener: NotifyListener, log: Path, environment: dict[str, str] | None = None
    ) -> None:
        environ = {
            **os.environ,
            **(environment or {}),
            "NOTIFY_SOCKET": listener.environment_value,
            "WATCHDOG_USEC": str(WATCHDOG_USEC),
            "PYTHONFAULTHANDLER": "1",  # as edge-gateway.service sets it
        }
        self.log = log
        with log.open("wb") as output:
            # exec keeps the gateway the process we signal; no core file from the SIGABRT test.
            serve = shlex.join([sys.executable, "-m", "gateway", "serve", "--config", str(config)])
            command = f"ulimit -c 0 && exec {serve}"
            self.process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=config.parent,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.listener = listener

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def api_port(self) -> int:
        match = re.search(r"HTTP API listening on 127\.0\.0\.1:(\d+)", self.output())
        assert match is not None, self.output()
        return int(match.group(1))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    with NotifyListener(tmp_path / "notify.sock") as bound:
        yield bound


def start(
    config: Path,
    listener: NotifyListener,
    started: list[Service],
    log: Path,
    environment: dict[str, str] | None = None,
) -> Service:
    service = Service(config, listener, log, environment)
    started.append(service)
    return service


def pings(listener: NotifyListener, duration_s: float) -> int:
    return sum(1 for n in listener.drain(duration_s) if n.fields.get("WATCHDOG") == "1")


def test_ready_watchdog_reload_and_a_clean_stop(
    tmp_path: Path, listener: NotifyListener, service_factory: list[Service]
) -> None:
    assert CLIP.exists(), "build/setup.sh builds the demo clip"
    camera = {"id": "demo", "url": str(CLIP), "detect_fps": 5, "model": MODEL}
    service = start(write_config(tmp_path, [camera]), listener, service_factory, tmp_path / "serve.log")

    # READY=1 only once models are warm and the API listens, with a one-line STATUS.
    ready, before = listener.wait_for("READY", READY_TIMEOUT_S)
    assert re.match(r"[01]/1 camera streaming, 1 model ready, ", ready.fields["STATUS"]), service.output()
    assert all("WATCHDOG" not in n.fields for n in before)

    # WATCHDOG=1 every WatchdogSec/2 while healthy.
    assert pings(listener, 3.5) >= 2, service.output()

    # SIGHUP: RELOADING=1 with the monotonic clock, then READY=1 again.
    service.signal(signal.SIGHUP)
    reloading, _ = listener.wait_for("RELOADING", 10.0)
    assert int(reloading.fields["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    listener.wait_for("READY", 60.0)
    assert service.process.poll() is None

    # SIGTERM: STOPPING=1, then exit 0 within the 10 s budget.
    asked = time.monotonic()
    service.signal(signal.SIGTERM)
    listener.wait_for("STOPPING", STOP_BUDGET_S)
    assert service.process.wait(STOP_BUDGET_S) == 0, service.output()
    assert time.monotonic() - asked <= STOP_BUDGET_S
    assert "Traceback" not in service.output()


def get_status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def test_the_shipped_config_runs_with_the_units_directories_and_credentials(
    tmp_path: Path, listener: NotifyListener, service_factory: list[Service]
) -> None:
    # Given what systemd hands the service: a state directory and a credentials directory.
    state = tmp_path / "state"
    (state / "models").mkdir(parents=True)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    token = secrets.token_hex(32)
    (credentials / "api-tokens").write_text(f"{token}\n", encoding="utf-8")
    example = (REPOSITORY / "systemd" / "gateway.example.yaml").read_text(encoding="utf-8")
    config = tmp_path / "gateway.yaml"
    config.write_text(example.replace("port: 8080", "port: 0"), encoding="utf-8")
    environment = {"STATE_DIRECTORY": str(state), "CREDENTIALS_DIRECTORY": str(credentials)}
    service = start(config, listener, service_factory, tmp_path / "serve.log", environment)

    listener.wait_for("READY", READY_TIMEOUT_S)
    cameras = f"http://127.0.0.1:{service.api_port()}/v1/cameras"
    # The API takes the token from the credential, and nothing without it.
    assert get_status(cameras) == 401
    assert get_status(cameras, token) == 200
    assert (state / "outbox.db").exists()  # state_dir: ${STATE_DIRECTORY}

    service.signal(signal.SIGTERM)
    assert service.process.wait(STOP_BUDGET_S) == 0, service.output()


def write_spin_model(repository: Path) -> None:
    """A model that loops ``max(INPUT0)`` times: 0 returns at once, 1e8 keeps a worker busy for
    minutes (about 9 us per turn here), long past the pipeline's limit for one batch."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["keep_going_in"], ["keep_going_out"]),
            helper.make_node("Add", ["value_in", "increment"], ["value_out"]),
        ],
        "spin_body",
        [
            helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
            helper.make_tensor_value_info("keep_going_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("value_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("keep_going_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("value_out", TensorProto.FLOAT, None),
        ],
        [helper.make_tensor("increment", TensorProto.FLOAT, [], [1e-7])],
    )
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMax", ["INPUT0"], ["most"], keepdims=0),
            helper.make_node("Cast", ["most"], ["turns"], to=TensorProto.INT64),
            helper.make_node("Loop", ["turns", "keep_going", "INPUT0"], ["OUTPUT0"], body=body),
        ],
        "spin",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor("keep_going", TensorProto.BOOL, [], [True])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    write_model_yaml(
        repository,
        "spin",
        {
            "platform": "onnxruntime_onnx",
            "max_batch_size": 1,
            "inputs": [{"name": "INPUT0", "datatype": "FP32", "dims": [1]}],
            "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "dims": [1]}],
            "warmup_batches": 0,
        },
    )
    write_model_file(repository, "spin", 1, model.SerializeToString())


@pytest.mark.slow
def test_watchdog_stops_while_an_inference_worker_is_wedged(
    tmp_path: Path, listener: NotifyListener, service_factory: list[Service]
) -> None:
    # Given a gateway that is healthy and pinging.
    repository = tmp_path / "models"
    write_spin_model(repository)
    config = write_config(tmp_path, [], repository)
    document = yaml.safe_load(config.read_text())
    document["inference"] = {"stuck_after_s": STUCK_AFTER_S}
    config.write_text(yaml.safe_dump(document))
    service = start(config, listener, service_factory, tmp_path / "serve.log")
    listener.wait_for("READY", READY_TIMEOUT_S)
    assert pings(listener, 2.5) >= 1, service.output()

    # When one request keeps its worker in a single batch (the reply is never awaited).
    body = json.dumps({"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FP32", "data": [1e8]}]})
    request = (
        f"POST /v2/models/spin/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    with socket.create_connection(("127.0.0.1", service.api_port()), timeout=10) as client:
        client.sendall(request)
        wedged_at = time.monotonic()

        # Then the pings stop within the pipeline's limit for one batch: once they have been silent
        # for longer than WatchdogSec, systemd would have killed and restarted the gateway.
        watchdog_s = WATCHDOG_USEC / 1e6
        deadline = wedged_at + 90.0
        last_ping = time.monotonic()
        while time.monotonic() - last_ping <= 1.5 * watchdog_s:
            assert time.monotonic() < deadline, f"still pinging 90 s after the wedge\n{service.output()}"
            notification = listener.receive(0.25)
            if notification is not None and notification.fields.get("WATCHDOG") == "1":
                last_ping = notification.received_at
        assert last_ping - wedged_at >= STUCK_AFTER_S - 1, "pings stopped before the limit for one batch"

        # And STATUS says why (it is refreshed every few seconds).
        status = ""
        while "unhealthy" not in status:
            assert time.monotonic() < deadline, service.output()
            notification = listener.receive(1.0)
            assert notification is None or notification.fields.get("WATCHDOG") != "1"
            status = notification.fields.get("STATUS", "") if notification is not None else ""
        assert "stuck" in status
        assert service.process.poll() is None, "a wedged gateway keeps running until systemd kills it"

    # systemd's watchdog then sends SIGABRT: the journal gets every thread's stack, the stuck one
    # inside ONNX Runtime included, and Restart=on-failure takes over.
    service.signal(signal.SIGABRT)
    assert service.process.wait(30) == -signal.SIGABRT
    dump = service.output().split("Fatal Python error: Aborted", 1)
    assert len(dump) == 2, service.output()
    assert "onnxruntime" in dump[1]
