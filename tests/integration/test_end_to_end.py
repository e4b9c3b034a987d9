"""The whole alert path with every real part: ``edge-gateway serve`` decoding the demo clip, the face
detector on ONNX Runtime, the rules, the signed outbox, a real mosquitto, ``edge-gateway audit serve``
storing what arrives, and ``edge-gateway audit verify`` proving nothing is missing, repeated or edited,
across a SIGKILL of the gateway in the middle of the stream."""

from __future__ import annotations

import json
import queue
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import Mosquitto
from tests.support.serve import Process, door_camera, face_repository, last_committed_seq

DEVICE = "e2e"
ALERT_WAIT_S = 90.0  # the face shows 10 s into each 20 s loop of the clip; models warm first


def wait_for_alerts(state_dir: Path, at_least: int, process: Process) -> int:
    deadline = time.monotonic() + ALERT_WAIT_S
    while time.monotonic() < deadline:
        assert process.process.poll() is None, process.output()
        seq = last_committed_seq(state_dir)
        if seq >= at_least:
            return seq
        time.sleep(0.5)
    raise AssertionError(f"fewer than {at_least} alerts within {ALERT_WAIT_S} s:\n{process.output()}")


def write_gateway_config(directory: Path, state_dir: Path, repository: Path, mqtt: dict[str, str]) -> Path:
    """The demo clip as camera ``door`` with a face rule that fires every time the face shows."""
    path = directory / "gateway.yaml"
    camera = door_camera()
    config = {
        "device_id": DEVICE,
        "state_dir": str(state_dir),
        "http": {"port": 0},
        "models": {"repository": str(repository)},
        "mqtt": mqtt,
        "cameras": [camera],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def verify(database: str, keys: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "verify", "--db", database, "--keys", str(keys)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_gateway_alerts_reach_the_audit_log_exactly_once_across_a_sigkill(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a broker, a device key known to the audit side, and the audit subscriber running
    key = secrets.token_hex(32)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "signing.key").write_text(key)
    keys = tmp_path / "device-keys.yaml"
    keys.write_text(yaml.safe_dump({DEVICE: key}))
    repository = face_repository(tmp_path)
    audit_db = f"sqlite:///{tmp_path / 'audit.db'}"
    with Mosquitto(tmp_path / "broker") as broker:
        mqtt = {"url": broker.url, "topic_prefix": "fleet"}
        audit_config = tmp_path / "audit.yaml"
        audit_config.write_text(
            yaml.safe_dump(
                {"mqtt": {**mqtt, "client_id": "audit-e2e"}, "database": audit_db, "keys_file": str(keys)}
            )
        )
        gateway_config = write_gateway_config(tmp_path, state_dir, repository, mqtt)
        audit = Process(["audit", "serve", "--config", str(audit_config)], tmp_path / "audit.log")
        processes.append(audit)

        # When the gateway is SIGKILLed while alerts flow, then restarted and stopped with SIGTERM
        first = Process(["serve", "--config", str(gateway_config)], tmp_path / "gateway-1.log")
        processes.append(first)
        killed_at = wait_for_alerts(state_dir, 2, first)
        first.kill()
        second = Process(["serve", "--config", str(gateway_config)], tmp_path / "gateway-2.log")
        processes.append(second)
        wait_for_alerts(state_dir, killed_at + 2, second)
        assert second.terminate() == 0, second.output()
        total = last_committed_seq(state_dir)

        # Then the audit store holds seq 1..total exactly once, chained and signed
        deadline = time.monotonic() + 30
        while True:
            result = verify(audit_db, keys)
            if f"{DEVICE}: {total} alerts, seq 1..{total}" in result.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert result.returncode == 0, result.stdout + result.stderr + audit.output()
        assert f"{DEVICE}: {total} alerts, seq 1..{total}, signatures checked: ok" in result.stdout
        assert audit.terminate() == 0, audit.output()
        assert json.loads(retained(broker, f"fleet/{DEVICE}/status"))["state"] == "offline"


def retained(broker: Mosquitto, topic: str) -> bytes:
    received: queue.Queue[bytes] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-status", protocol=mqtt.MQTTv5)
    client.on_message = lambda _client, _userdata, message: received.put(bytes(message.payload))
    client.connect("127.0.0.1", broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        return received.get(timeout=10)
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_wrong_broker_password_is_a_clear_error_and_alerts_keep_accumulating(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a broker that only admits user gw with its password, and a gateway with the wrong one
    state_dir = tmp_path / "state"
    password = tmp_path / "mqtt-password"
    password.write_text("wrong\n")
    with Mosquitto(tmp_path / "broker", users={"gw": "secret"}, allow_anonymous=False) as broker:
        mqtt = {"url": broker.url, "username": "gw", "password_file": str(password)}
        config = write_gateway_config(tmp_path, state_dir, face_repository(tmp_path), mqtt)

        # When it runs long enough for the face to show
        gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
        processes.append(gateway)
        committed = wait_for_alerts(state_dir, 1, gateway)

        # Then /v1/status names the refusal, nothing was acknowledged, and the outbox keeps the alerts
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway.api_port()}/v1/status", timeout=10) as reply:
            status = json.loads(reply.read())
        delivery = status["delivery"]
        assert delivery["state"] == "refused", status
        assert "Not authorized" in delivery["last_error"], status
        assert delivery["last_seq"] >= committed
        assert delivery["last_acked_seq"] == 0
        assert "Not authorized" in gateway.output()
        assert gateway.terminate() == 0, gateway.output()
        assert last_committed_seq(state_dir) >= committed
