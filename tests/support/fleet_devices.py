"""Simulated gateways for the fleet test and benchmark: several devices in one process, each running
the gateway's real Outbox (SQLite WAL, hash chain, HMAC) and MqttPublisher (QoS 1, a retained status
with ``offline`` as its last will, evidence, replay), fed synthetic alerts at a set rate instead of
cameras and models.

    python -m tests.support.fleet_devices --state-dir DIR --broker URL --devices a,b,c --alerts N
        --rate R [--evidence WxH] [--offline DEVICE:AT_S:FOR_S] [--synchronous normal|full]

Each device keeps its outbox and signing key in DIR/<device_id>; create the key first
(``load_or_create_key``) so the audit side's keys file can name it. Alerts come in events of three
(a start carrying the evidence image when ``--evidence`` is given, an update, an end), ``R`` per
second per device, the devices' schedules spread evenly over a period; each alert's ``frame_ts`` is
the wall-clock time it is produced, so the audit side's lag covers the whole path.

Lines on stdout: ``ready`` once every publisher has connected, ``produced`` once every alert is
committed, then ``drained {"device": last_seq, ...}`` once no outbox holds anything undelivered; the
process then stays connected (its devices online) until SIGTERM, when each publisher stops cleanly
(publishing ``offline``). ``--offline`` stops one device's publisher AT_S seconds after ``ready``
and starts a new one on the same outbox FOR_S later; the device goes on producing meanwhile, so its
backlog arrives late. A SIGKILL leaves it to the broker to publish each device's last will.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import cv2
import numpy as np
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig, OutboxConfig
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import Alert, AlertEvent, AlertKind, DeliveryState, EndReason, Evidence, ModelRef

MODEL = ModelRef("person-detector", 1)
KINDS = (AlertKind.START, AlertKind.UPDATE, AlertKind.END)
READY_TIMEOUT_S = 60.0


def evidence_image(width: int, height: int) -> tuple[bytes, Evidence]:
    """A JPEG of a noisy gradient (quality 85, like the gateway's encoder) and its Evidence."""
    generator = np.random.default_rng(7)
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    image = np.clip(ramp + generator.normal(0, 5, (height, width, 3)), 0, 255).astype(np.uint8)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    data = buffer.tobytes()
    return data, Evidence(hashlib.sha256(data).hexdigest(), len(data), "image/jpeg", width, height)


def synthetic_event(number: int, at: float, evidence: Evidence | None) -> AlertEvent:
    """The ``number``-th alert of a device (0-based): events of start, update, end."""
    kind = KINDS[number % 3]
    return AlertEvent(
        event_id=f"gate:intrusion:{number // 3 + 1}",
        kind=kind,
        camera_id="gate",
        rule="intrusion",
        label="person",
        score=0.8,
        zone="yard",
        box=(0.1, 0.2, 0.3, 0.4),
        frame_ts=at,
        model=MODEL,
        track_id=number // 3 + 1,
        end_reason=EndReason.CLEARED if kind is AlertKind.END else None,
        evidence=evidence if kind is AlertKind.START else None,
    )


@dataclass
class SimulatedDevice:
    device_id: str
    outbox: Outbox
    config: MqttConfig
    publisher: MqttPublisher
    produced: int = 0
    futures: list[Future[list[Alert]]] = field(default_factory=list)

    def restart_publisher(self) -> None:
        self.publisher = MqttPublisher(self.config, self.device_id, self.outbox, CollectorRegistry())
        self.publisher.start()


def open_device(
    state_dir: Path, device_id: str, broker: str, synchronous: str, max_inflight: int
) -> SimulatedDevice:
    directory = state_dir / device_id
    outbox = Outbox(
        directory,
        device_id,
        load_or_create_key(directory),
        config=OutboxConfig.model_validate({"synchronous": synchronous}),
    )
    config = MqttConfig(url=broker, max_inflight=max_inflight, reconnect_min_s=0.2, reconnect_max_s=2.0)
    return SimulatedDevice(
        device_id, outbox, config, MqttPublisher(config, device_id, outbox, CollectorRegistry())
    )


def wait_connected(devices: list[SimulatedDevice], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while any(device.publisher.status().state is not DeliveryState.CONNECTED for device in devices):
        if time.monotonic() > deadline:
            raise TimeoutError("publishers not connected")
        time.sleep(0.05)


def produce(
    devices: list[SimulatedDevice],
    alerts: int,
    rate: float,
    image: tuple[bytes, Evidence] | None,
    offline: tuple[str, float, float] | None,
) -> None:
    """``alerts`` per device at ``rate`` per second each, the devices' turns spread over a period."""
    period = 1.0 / rate
    started = time.monotonic()
    offline_state = "pending"
    for number in range(alerts):
        for index, device in enumerate(devices):
            due = started + number * period + index * period / len(devices)
            while (wait := due - time.monotonic()) > 0:
                time.sleep(min(wait, 0.05))
                offline_state = _offline_step(devices, offline, started, offline_state)
            event = synthetic_event(number, time.time(), image[1] if image else None)
            data = image[0] if image and event.evidence is not None else None
            device.futures.append(device.outbox.append_async([event], [data]))
            device.produced += 1
        offline_state = _offline_step(devices, offline, started, offline_state)
    while offline_state != "done" and offline is not None:
        time.sleep(0.05)
        offline_state = _offline_step(devices, offline, started, offline_state)


def _offline_step(
    devices: list[SimulatedDevice], offline: tuple[str, float, float] | None, started: float, state: str
) -> str:
    if offline is None or state == "done":
        return "done"
    device_id, at_s, for_s = offline
    device = next(device for device in devices if device.device_id == device_id)
    elapsed = time.monotonic() - started
    if state == "pending" and elapsed >= at_s:
        device.publisher.stop()
        print(f"offline {device_id}", flush=True)
        return "offline"
    if state == "offline" and elapsed >= at_s + for_s:
        device.restart_publisher()
        print(f"online {device_id}", flush=True)
        return "done"
    return state


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--devices", required=True, help="comma-separated device ids")
    parser.add_argument("--alerts", type=int, required=True, help="alerts per device")
    parser.add_argument("--rate", type=float, required=True, help="alerts per second per device")
    parser.add_argument("--evidence", help="WIDTHxHEIGHT of the image on each start alert")
    parser.add_argument("--offline", help="DEVICE:AT_S:FOR_S")
    parser.add_argument("--synchronous", default="normal", choices=["normal", "full"])
    parser.add_argument("--max-inflight", type=int, default=64)
    arguments = parser.parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    image = None
    if arguments.evidence:
        width, height = (int(part) for part in arguments.evidence.split("x"))
        image = evidence_image(width, height)
    offline = None
    if arguments.offline:
        device_id, at_s, for_s = arguments.offline.split(":")
        offline = (device_id, float(at_s), float(for_s))
    devices = [
        open_device(
            arguments.state_dir, device_id, arguments.broker, arguments.synchronous, arguments.max_inflight
        )
        for device_id in arguments.devices.split(",")
    ]
    if offline is not None and offline[0] not in {device.device_id for device in devices}:
        offline = None  # another process of the fleet holds that device
    for device in devices:
        device.publisher.start()
    wait_connected(devices, READY_TIMEOUT_S)
    print("ready", flush=True)
    produce(devices, arguments.alerts, arguments.rate, image, offline)
    for device in devices:
        for future in device.futures:
            future.result()  # an outbox failure ends the run loudly
        device.futures.clear()
    print("produced", flush=True)
    while any(device.outbox.stats().pending for device in devices) and not stop.is_set():
        time.sleep(0.1)
    print(
        "drained " + json.dumps({device.device_id: device.outbox.last_seq for device in devices}), flush=True
    )
    stop.wait()
    for device in devices:
        device.publisher.stop()
        device.outbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
