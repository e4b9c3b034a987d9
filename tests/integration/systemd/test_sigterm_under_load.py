"""SIGTERM under load, as systemd stops the service: alerts flowing from a camera to a real
mosquitto while HTTP clients keep the inference pool busy. The gateway must say STOPPING, exit 0
within 10 s and lose no alert: after a restart the outbox holds one unbroken, correctly signed
chain, seq continues where it stopped, and every alert of the first run reaches the broker."""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import cv2
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from gateway.delivery.signing_key import load_or_create_key
from gateway.protocol.alerts import verify_payload
from tests.integration.systemd.notify_listener import NotifyListener
from tests.integration.systemd.test_serve_lifecycle import (
    CLIP,
    MODEL,
    READY_TIMEOUT_S,
    STOP_BUDGET_S,
    Service,
    start,
)
from tests.support.mosquitto import Mosquitto

REPOSITORY = Path(__file__).resolve().parents[3]
DEVICE = "load"
HTTP_CLIENTS = 3
ALERT_WAIT_S = 60.0  # the demo clip shows its face 10 s into each 20 s loop


class AlertCollector:
    """A QoS 1 subscriber to the device's alerts and status, as the cloud side would be."""

    def __init__(self, broker: Mosquitto) -> None:
        self.lock = threading.Lock()
        self.alerts: dict[int, bytes] = {}
        self.states: list[str] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="load-test", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe([(f"edge/{DEVICE}/alerts", 1), (f"edge/{DEVICE}/status", 1)])
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        document = json.loads(message.payload)
        with self.lock:
            if message.topic.endswith("/alerts"):
                self.alerts[int(document["seq"])] = bytes(message.payload)
            else:
                self.states.append(str(document["state"]))

    def wait_for_alert_after(self, seq: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                newest = max(self.alerts, default=0)
            if newest > seq:
                return newest
            time.sleep(0.1)
        raise AssertionError(f"no alert after seq {seq} within {timeout_s} s")

    def wait_for_state(self, state: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if self.states and self.states[-1] == state:
                    return
            time.sleep(0.1)
        raise AssertionError(f"status never became {state}: {self.states}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class DetectLoad:
    """HTTP clients posting JPEG frames to /v1/detect back to back until stopped."""

    def __init__(self, port: int, jpeg: bytes) -> None:
        self.port = port
        self.jpeg = jpeg
        self.stop = threading.Event()
        self.statuses: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._client, name=f"detect-load-{index}")
            for index in range(HTTP_CLIENTS)
        ]
        for thread in self.threads:
            thread.start()

    def _client(self) -> None:
        while not self.stop.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                connection.request(
                    "POST", f"/v1/detect?model={MODEL}", self.jpeg, {"Content-Type": "image/jpeg"}
                )
                status = connection.getresponse().status
            except OSError:
                status = 0  # the server went away mid-request: expected once it stops
            finally:
                connection.close()
            with self.lock:
                self.statuses[status] += 1
            if status == 0:
                self.stop.wait(0.05)  # the server is going or gone: no busy loop of refused connects

    def finish(self) -> Counter[int]:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)
        return self.statuses


def write_config(directory: Path, broker: Mosquitto) -> Path:
    camera = {
        "id": "demo",
        "url": str(CLIP),
        "detect_fps": 5,
        "model": MODEL,
        "zones": [{"name": "scene", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        "rules": [
            {
                "name": "face",
                "labels": ["FACE_FEMALE", "FACE_MALE"],
                "zones": ["scene"],
                "min_score": 0.4,
                "min_frames": 2,
                "cooldown_s": 0,
                "update_interval_s": 0,  # an update per detection: a steady stream of alerts
                "end_after_s": 1,
            }
        ],
    }
    config = {
        "device_id": DEVICE,
        "state_dir": str(directory / "state"),
        "http": {"host": "127.0.0.1", "port": 0},
        "models": {"repository": str(REPOSITORY / "models")},
        "cameras": [camera],
        "mqtt": {"url": broker.url, "topic_prefix": "edge"},
    }
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def demo_jpeg() -> bytes:
    capture = cv2.VideoCapture(str(CLIP))
    try:
        ok, image = capture.read()
    finally:
        capture.release()
    assert ok
    encoded, jpeg = cv2.imencode(".jpg", image)
    assert encoded
    return jpeg.tobytes()


def stop_under_load(service: Service, listener: NotifyListener, collector: AlertCollector, after: int) -> int:
    """Run until alerts flow past ``after`` with HTTP load on, SIGTERM, return the newest seq seen."""
    listener.wait_for("READY", READY_TIMEOUT_S)
    load = DetectLoad(service.api_port(), demo_jpeg())
    try:
        newest = collector.wait_for_alert_after(after, ALERT_WAIT_S)
        asked = time.monotonic()
        service.signal(signal.SIGTERM)
        listener.wait_for("STOPPING", STOP_BUDGET_S)
        assert service.process.wait(STOP_BUDGET_S) == 0, service.output()
        assert time.monotonic() - asked <= STOP_BUDGET_S
    finally:
        statuses = load.finish()
    assert statuses[200] > 0, statuses
    collector.wait_for_state("offline", 10.0)
    return newest


@pytest.mark.slow
def test_sigterm_under_load_exits_cleanly_and_loses_no_alert(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        config = write_config(tmp_path, broker)
        collector = AlertCollector(broker)
        started: list[Service] = []
        try:
            with NotifyListener(tmp_path / "notify-1.sock") as listener:
                first = start(config, listener, started, tmp_path / "serve-1.log")
                stop_under_load(first, listener, collector, after=0)
            # Seqs 1..first_run were committed by the first run.
            first_run = len(outbox_rows(tmp_path / "state"))
            with NotifyListener(tmp_path / "notify-2.sock") as listener:
                second = start(config, listener, started, tmp_path / "serve-2.log")
                stop_under_load(second, listener, collector, after=first_run)
        finally:
            collector.close()
            for service in started:
                service.stop()

    rows = outbox_rows(tmp_path / "state")
    seqs = [seq for seq, _ in rows]
    assert seqs == list(range(1, len(rows) + 1)), "the outbox chain has a gap"
    assert len(rows) > first_run, "the second run added no alert"
    key = load_or_create_key(tmp_path / "state")
    previous: str | None = None
    for _, payload in rows:
        previous = verify_payload(payload, key, previous).hash
    # Every alert of the first run reached the broker (the last ones after the restart at the
    # latest), byte for byte as committed.
    with collector.lock:
        delivered = dict(collector.alerts)
    for seq, payload in rows[:first_run]:
        assert delivered.get(seq) == payload, f"alert {seq} of the first run never reached the broker"


def outbox_rows(state: Path) -> list[tuple[int, bytes]]:
    """Every committed alert, read from the outbox database while no gateway runs."""
    database = sqlite3.connect(state / "outbox.db")
    try:
        rows = database.execute("SELECT seq, payload FROM alerts ORDER BY seq").fetchall()
    finally:
        database.close()
    return [(int(seq), bytes(payload)) for seq, payload in rows]
