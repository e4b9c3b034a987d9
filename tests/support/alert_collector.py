"""A cloud-side stand-in for the tests: a persistent-session QoS 1 subscriber that keeps each seq once.

It verifies what it keeps (schema, hash, signature, chain) so a test that passes proves the stream is
what the audit log would accept, and it refuses a duplicate whose bytes differ from the first copy.
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.domain import Alert
from gateway.protocol.alerts import ZERO_HASH, decode_alert, verify_alert
from gateway.protocol.mqtt_link import close_client


class AlertCollector:
    def __init__(
        self,
        port: int,
        topic: str,
        *,
        ca_file: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        client_cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.topic = topic
        self.payloads: dict[int, bytes] = {}
        self.received = 0
        self.conflicts: list[int] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"collector-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        if ca_file is not None:
            cert, key = (str(client_cert[0]), str(client_cert[1])) if client_cert else (None, None)
            self._client.tls_set(
                ca_certs=str(ca_file), certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED
            )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        self._client.connect("127.0.0.1", port, clean_start=False, properties=properties)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("collector did not subscribe")

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if not reason.is_failure:
            client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _m: int, _r: object, _p: object) -> None:
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        seq = decode_alert(payload).seq
        with self._changed:
            self.received += 1
            kept = self.payloads.setdefault(seq, payload)
            if kept != payload:
                self.conflicts.append(seq)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout_s: float = 30.0) -> None:
        """Until seqs 1..count are all held."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self.payloads) < count or max(self.payloads) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = sorted(set(range(1, count + 1)) - set(self.payloads))
                    raise TimeoutError(f"held {len(self.payloads)}/{count}; missing {missing[:20]}...")
                self._changed.wait(remaining)

    def assert_complete(self, count: int, key: bytes) -> None:
        """Every seq 1..count exactly once, byte-stable, chained and signed."""
        with self._lock:
            assert self.conflicts == [], f"duplicates with different bytes: {self.conflicts[:10]}"
            assert sorted(self.payloads) == list(range(1, count + 1))
            payloads = [self.payloads[seq] for seq in range(1, count + 1)]
        previous = ZERO_HASH
        for payload in payloads:
            alert = decode_alert(payload)
            verify_alert(alert, key, previous)
            previous = alert.hash

    def alerts(self) -> list[Alert]:
        """Every alert held, decoded, in seq order."""
        with self._lock:
            payloads = [self.payloads[seq] for seq in sorted(self.payloads)]
        return [decode_alert(payload) for payload in payloads]

    def close(self) -> None:
        close_client(self._client)
