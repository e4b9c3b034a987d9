"""A small stand-in for a gateway's alert output, for the audit-log tests.

``AlertChain`` makes real alert payloads (``gateway.protocol.alerts``: canonical JSON, hash chain,
HMAC) for one device: v1 alerts as an older device wrote them, or v2 alerts whose starts carry a
real JPEG as evidence. ``MqttDevice`` publishes them at QoS 1 to a real broker (each image on
``{prefix}/{device_id}/evidence/{seq}`` right after its alert) and answers replay requests on
``{prefix}/{device_id}/replay`` with the byte-identical payloads and images, as the real gateway
does; it can be told to hold back some seqs or images to create a subscriber-side gap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.domain import AlertEvent, AlertKind, EndReason, Evidence, ModelRef
from gateway.protocol.alerts import ZERO_HASH, build_alert, encode_alert
from gateway.protocol.mqtt_link import close_client


def event(seq: int, camera_id: str = "gate") -> AlertEvent:
    kinds = (AlertKind.START, AlertKind.UPDATE, AlertKind.END)
    kind = kinds[(seq - 1) % 3]
    return AlertEvent(
        event_id=f"{camera_id}-{(seq - 1) // 3 + 1}",
        kind=kind,
        camera_id=camera_id,
        rule="intrusion",
        label="person",
        score=round(0.5 + (seq % 50) / 100, 2),
        zone="yard",
        box=(0.1, 0.2, 0.3, 0.4),
        frame_ts=1_780_000_000.0 + seq / 10,
        model=ModelRef("person-detector", 2),
        end_reason=EndReason.CLEARED if kind is AlertKind.END else None,
    )


def jpeg(seq: int) -> bytes:
    """A small real JPEG, different for every seq."""
    image = np.full((48, 64, 3), (seq * 37) % 256, dtype=np.uint8)
    cv2.putText(image, str(seq), (4, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    ok, buffer = cv2.imencode(".jpg", image)
    assert ok
    return buffer.tobytes()


class AlertChain:
    """Alerts 1..n of one device, each linked to the previous one and signed with ``key``."""

    def __init__(self, device_id: str, key: bytes, prefix: str = "edge") -> None:
        self.device_id = device_id
        self.key = key
        self.topic = f"{prefix}/{device_id}/alerts"
        self.replay_topic = f"{prefix}/{device_id}/replay"
        self._prefix = prefix
        self.payloads: list[bytes] = []
        self.images: dict[int, bytes] = {}
        """seq -> the evidence image its alert names."""
        self._prev_hash = ZERO_HASH

    def image_topic(self, seq: int) -> str:
        return f"{self._prefix}/{self.device_id}/evidence/{seq}"

    def extend(self, count: int, *, schema_version: int = 2, evidence: bool = False) -> list[bytes]:
        """Make the next ``count`` alerts (v1 as an older device wrote them, or v2; with
        ``evidence``, each v2 start names a JPEG kept in ``images``); returns their payloads."""
        made = []
        for _ in range(count):
            seq = len(self.payloads) + 1
            made_event = dataclasses.replace(event(seq), schema_version=schema_version)
            if evidence and schema_version == 2 and made_event.kind is AlertKind.START:
                image = jpeg(seq)
                self.images[seq] = image
                digest = Evidence(hashlib.sha256(image).hexdigest(), len(image), "image/jpeg", 64, 48)
                made_event = dataclasses.replace(made_event, evidence=digest)
            alert = build_alert(self.device_id, seq, made_event, self._prev_hash, self.key)
            self._prev_hash = alert.hash
            payload = encode_alert(alert)
            self.payloads.append(payload)
            made.append(payload)
        return made

    def payload(self, seq: int) -> bytes:
        return self.payloads[seq - 1]


def connect_client(
    url: str,
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: Path | None = None,
) -> mqtt.Client:
    """A connected MQTT v5 client with its network loop running."""
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    if url.startswith("mqtts://"):
        client.tls_set(ca_certs=None if ca_file is None else str(ca_file))

    def on_connect(
        client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Properties | None
    ) -> None:
        if not reason_code.is_failure:
            connected.set()

    client.on_connect = on_connect
    parts = urlsplit(url)
    client.connect_async(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    if not connected.wait(10):
        client.loop_stop()
        raise TimeoutError(f"{client_id} could not connect to {url}")
    return client


class MqttDevice:
    """Publishes an AlertChain at QoS 1 and serves replay requests with the original bytes."""

    def __init__(
        self,
        url: str,
        chain: AlertChain,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.chain = chain
        self.replay_requests: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._client = connect_client(
            url, f"device-{chain.device_id}", username=username, password=password, ca_file=ca_file
        )
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.subscribe(chain.replay_topic, qos=1)
        if not subscribed.wait(10):
            raise TimeoutError("replay subscription not acknowledged")

    def publish(self, seqs: range | list[int], *, without_images: frozenset[int] = frozenset()) -> None:
        """Publish the given seqs (making more alerts as needed), each image right after its alert
        but those of ``without_images``, and wait for every PUBACK."""
        needed = max(seqs, default=0) - len(self.chain.payloads)
        if needed > 0:
            self.chain.extend(needed)
        infos = []
        for seq in seqs:
            infos.append(self._client.publish(self.chain.topic, self.chain.payload(seq), qos=1))
            if seq in self.chain.images and seq not in without_images:
                infos.append(self._client.publish(self.chain.image_topic(seq), self.chain.images[seq], qos=1))
        for info in infos:
            info.wait_for_publish(10)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        request = json.loads(message.payload)
        from_seq, to_seq = int(request["from_seq"]), int(request["to_seq"])
        with self._lock:
            self.replay_requests.append((from_seq, to_seq))
        last = min(to_seq, len(self.chain.payloads))
        for seq in range(max(from_seq, 1), last + 1):
            client.publish(self.chain.topic, self.chain.payload(seq), qos=1)
            if seq in self.chain.images:
                client.publish(self.chain.image_topic(seq), self.chain.images[seq], qos=1)

    def close(self) -> None:
        close_client(self._client)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 15.0, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)
