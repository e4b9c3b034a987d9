"""MqttPublisher: alerts and their evidence from the outbox to the broker at QoS 1, in seq order,
never dropped.

Threads: paho's network thread (``loop_start``) runs the callbacks; the named ``mqtt-publisher``
thread owns the in-flight window (mid -> seq) and is the only one that reads the outbox for sending.
Callbacks only append to deques and set the wake event, because paho calls ``on_publish`` while
holding its own message lock, which ``publish()`` also takes: any lock shared between the two
would deadlock.

Delivery rules:
- at most ``mqtt.max_inflight`` alerts without PUBACK; an alert is marked delivered only on a PUBACK
  whose reason code is not a failure (MQTT v5 brokers can refuse one message, e.g. not authorised);
  a refused message is logged (once per kind and reason) and sent again after ``reconnect_min_s``,
  doubling up to ``reconnect_max_s`` while the broker keeps refusing it (mosquitto 2 also drops the
  connection after each refusal, so a fixed short retry would be a reconnect loop);
- an image the broker cannot take is not sent again until the gateway restarts, because retrying it
  would drop the connection every time, paho would send it again first on every reconnect, and every
  alert behind it would wait forever. That is an image larger than the Maximum Packet Size the
  broker announces in CONNACK (MQTT v5; mosquitto's ``max_packet_size``), one the broker refuses for
  good in its PUBACK (PERMANENT_IMAGE_REFUSALS, e.g. 0x95 packet too large), and one that was the
  oldest unacknowledged message each time the connection dropped, LOSSES_BEFORE_GIVING_UP times in
  a row (mosquitto 2.0 answers a message over its ``message_size_limit`` with a PUBACK paho cannot
  parse, so that refusal only shows as a lost connection). Such an image stays undelivered in the
  outbox (retention keeps it; ``GET /v1/events/{seq}/evidence.jpg`` serves it), is logged with its
  size and counted in ``edge_gateway_mqtt_evidence_undeliverable``. Alerts are never given up on.
  MQTT 3.1.1 has no PUBACK reason codes: mosquitto then acknowledges an oversized or denied message
  and drops it, which the device cannot see (use MQTT v5, the default);
- on a reconnect paho re-sends the messages it still holds (same mid, DUP set); after a restart the
  publisher starts from the oldest undelivered alert. Duplicates are possible, losses are not: the
  audit log stores each (device_id, seq) once;
- replay requests on ``{prefix}/{device_id}/replay`` (``{"from_seq": a, "to_seq": b}``) are queued
  (bounded, drops counted) and served from the outbox byte-identical, through the same window;
- evidence: each image the outbox holds goes to ``{prefix}/{device_id}/evidence/{seq}`` (QoS 1, not
  retained, the bytes exactly), right after its alert, and again when a replay covers its seq. An
  image is its own message in the window, marked delivered on its own PUBACK and retried like an
  alert; its alert's delivery does not wait for it (the audit side accepts either order).
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.config import MqttConfig
from gateway.delivery import delivery_state
from gateway.delivery.mqtt_packets import forget_held, oldest_held, publish_packet_size
from gateway.delivery.outbox import Outbox, StoredAlert, StoredEvidence
from gateway.domain import DeliveryState, DeliveryStatus
from gateway.errors import BrokerError, OutboxError
from gateway.protocol.alerts import MAX_SEQ
from gateway.protocol.mqtt_link import close_client, make_client, state_payload

logger = logging.getLogger(__name__)

MAX_REPLAY_RANGE = 100_000
REPLAY_QUEUE_SIZE = 64
IDLE_WAKE_S = 0.5

PERMANENT_IMAGE_REFUSALS = frozenset({0x90, 0x95, 0x99})
"""PUBACK reason codes that sending the same image again cannot change: topic name invalid, packet
too large, payload format invalid."""

LOSSES_BEFORE_GIVING_UP = 3

_Message = tuple[int, bool]
"""(seq, is_evidence): an alert or the image of alert seq; sorts an alert before its image."""


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    from_seq: int
    to_seq: int


def parse_replay_request(payload: bytes) -> ReplayRequest:
    try:
        data = json.loads(payload)
        from_seq, to_seq = data["from_seq"], data["to_seq"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BrokerError(f'replay request must be {{"from_seq": a, "to_seq": b}}: {exc}') from exc
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (from_seq, to_seq)):
        raise BrokerError("replay request: from_seq and to_seq must be integers")
    if not 1 <= from_seq <= to_seq <= MAX_SEQ or to_seq - from_seq >= MAX_REPLAY_RANGE:
        raise BrokerError(
            f"replay request: need 1 <= from_seq <= to_seq <= {MAX_SEQ}, at most {MAX_REPLAY_RANGE} alerts"
        )
    return ReplayRequest(from_seq, to_seq)


class MqttPublisher:
    def __init__(
        self,
        config: MqttConfig,
        device_id: str,
        outbox: Outbox,
        registry: CollectorRegistry,
    ) -> None:
        self._config = config
        self._outbox = outbox
        prefix = f"{config.topic_prefix}/{device_id}"
        self.alerts_topic = f"{prefix}/alerts"
        self.status_topic = f"{prefix}/status"
        self.replay_topic = f"{prefix}/replay"
        self.evidence_topic = f"{prefix}/evidence/{{seq}}"
        self._camera_topic = f"{prefix}/cameras/{{camera_id}}/state"
        client_id = config.client_id or f"edge-gateway-{device_id}"
        self._client, self._address, self._connect_properties = make_client(
            config, client_id, will=(self.status_topic, state_payload("offline"))
        )
        self._client.max_inflight_messages_set(config.max_inflight)
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._status_lock = threading.Lock()
        self._state = DeliveryState.CONNECTING
        self._last_error: str | None = None
        self._connected_since: float | None = None
        self._acks: collections.deque[tuple[int, tuple[int, str] | None]] = collections.deque()
        self._replays: queue.Queue[ReplayRequest] = queue.Queue(REPLAY_QUEUE_SIZE)
        # Owned by the publisher thread only.
        self._inflight: dict[int, _Message] = {}
        self._last_sent_seq = 0
        self._last_sent_evidence_seq = 0
        self._last_acked_seq = 0
        self._retry: list[tuple[float, _Message]] = []
        self._retry_delay: dict[_Message, float] = {}
        self._logged_refusals: set[tuple[bool, str]] = set()
        self._given_up: set[int] = set()
        self._max_packet_size: int | None = None
        """The broker's Maximum Packet Size (CONNACK, v5), or None: no limit announced."""
        # Network thread only: (seq, losses in a row with that image the oldest message unacknowledged).
        self._suspect: tuple[int, int] | None = None
        self._dropped: collections.deque[tuple[int, int]] = collections.deque()
        """(mid, seq) of images to take out of paho's queue after repeated losses (publisher thread)."""
        self._unmarked: list[_Message] = []
        self._outbox_error: str | None = None
        self._replay_ranges: collections.deque[list[int]] = collections.deque()
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._published = Counter(
            "edge_gateway_mqtt_alerts_published", "Alert PUBLISH packets sent.", registry=registry
        )
        self._delivered = Counter(
            "edge_gateway_mqtt_alerts_delivered",
            "Alerts acknowledged by the broker (PUBACK).",
            registry=registry,
        )
        self._evidence_published = Counter(
            "edge_gateway_mqtt_evidence_published", "Evidence PUBLISH packets sent.", registry=registry
        )
        self._evidence_delivered = Counter(
            "edge_gateway_mqtt_evidence_delivered",
            "Evidence images acknowledged by the broker (PUBACK).",
            registry=registry,
        )
        self._refused = Counter(
            "edge_gateway_mqtt_alerts_refused",
            "PUBACKs with a failure reason code, alerts and evidence (sent again).",
            registry=registry,
        )
        self._undeliverable = Counter(
            "edge_gateway_mqtt_evidence_undeliverable",
            "Evidence images the broker refused for good (e.g. too large); kept in the outbox, not resent.",
            registry=registry,
        )
        self._replay_drops = Counter(
            "edge_gateway_mqtt_replay_requests_dropped",
            "Replay requests dropped: bad or queue full.",
            registry=registry,
        )
        self._connected = Gauge(
            "edge_gateway_mqtt_connected", "1 while connected to the broker.", registry=registry
        )
        self._inflight_gauge = Gauge(
            "edge_gateway_mqtt_inflight", "Alerts and evidence images awaiting PUBACK.", registry=registry
        )
        outbox.add_listener(lambda _seq: self._wake.set())

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        logger.info("publishing alerts to %s as %s", self._address, self.alerts_topic)
        self._client.connect_async(
            self._address.host,
            self._address.port,
            keepalive=self._config.keepalive_s,
            clean_start=False,
            properties=self._connect_properties,
        )
        self._client.loop_start()
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Publish ``offline``, disconnect, join the threads."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        """The publisher thread runs (until ``stop``; an unexpected failure ends it too)."""
        return self._thread.is_alive()

    def status(self) -> DeliveryStatus:
        with self._status_lock:
            return DeliveryStatus(
                state=self._state,
                last_error=self._last_error,
                broker=str(self._address),
                connected_since=self._connected_since,
                last_seq=self._outbox.last_seq,
                last_acked_seq=self._last_acked_seq,
                inflight=len(self._inflight),
            )

    def publish_camera_state(self, camera_id: str, state: str, fps: float) -> None:
        """Retained ``{prefix}/{device_id}/cameras/{camera_id}/state``; queued by paho while offline."""
        payload = state_payload(state, fps=round(fps, 3))
        self._client.publish(self._camera_topic.format(camera_id=camera_id), payload, qos=1, retain=True)

    # -- paho callbacks (network thread): record and wake, nothing more ----------------------------

    def _set_state(self, state: DeliveryState, error: str | None) -> None:
        with self._status_lock:
            if not delivery_state.allowed(self._state, state):
                # A bug, not a broker fault; raising on paho's network thread would stop its loop.
                logger.error("MQTT publisher: illegal state move %s -> %s", self._state.value, state.value)
                return
            changed = error is not None and error != self._last_error
            self._state = state
            if error is not None:
                self._last_error = error
            if state is DeliveryState.CONNECTED:
                self._connected_since = time.time()
                self._last_error = None
        self._connected.set(1 if state is DeliveryState.CONNECTED else 0)
        if changed:
            # Logged once per distinct error, not on every reconnect attempt.
            logger.error("MQTT %s: %s", self._address, error)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        if reason.is_failure:
            self._set_state(
                DeliveryState.REFUSED,
                f"broker refused the connection: {reason}; check mqtt.username, mqtt.password_file "
                "and the broker's ACL (alerts keep accumulating in the outbox)",
            )
            return
        limit = getattr(properties, "MaximumPacketSize", None)
        self._max_packet_size = limit if isinstance(limit, int) and limit > 0 else None
        self._set_state(DeliveryState.CONNECTED, None)
        logger.info(
            "MQTT connected to %s (session present: %s, maximum packet size: %s)",
            self._address,
            flags.session_present,
            self._max_packet_size or "no limit",
        )
        client.publish(self.status_topic, state_payload("online"), qos=1, retain=True)
        client.subscribe(self.replay_topic, qos=1)
        self._wake.set()

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        self._set_state(
            DeliveryState.RECONNECTING,
            f"cannot connect to {self._address} (unreachable, TLS failure or down)",
        )

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, _flags: object, reason: ReasonCode, _properties: object
    ) -> None:
        if self._stop.is_set():
            return
        self._note_loss()
        with self._status_lock:
            refused = self._state is DeliveryState.REFUSED
        if not refused:
            self._set_state(DeliveryState.RECONNECTING, f"connection lost: {reason}")

    def _note_loss(self) -> None:
        """Count the losses with the same image the oldest message paho holds; after
        LOSSES_BEFORE_GIVING_UP, hand it to the publisher thread to take out of paho's queue (not
        here: paho may call this while iterating that queue, on this thread, under its RLock)."""
        mid = oldest_held(self._client)
        message = self._inflight.get(mid) if mid is not None else None
        if mid is None or message is None or not message[1]:
            self._suspect = None  # an alert, a status message, or nothing: no image to blame
            return
        seq = message[0]
        losses = self._suspect[1] + 1 if self._suspect is not None and self._suspect[0] == seq else 1
        self._suspect = None if losses >= LOSSES_BEFORE_GIVING_UP else (seq, losses)
        if losses >= LOSSES_BEFORE_GIVING_UP:
            self._dropped.append((mid, seq))
            self._wake.set()

    def _on_publish(
        self, _client: mqtt.Client, _userdata: object, mid: int, reason: ReasonCode, _properties: object
    ) -> None:
        # str(reason) costs more than the rest of this callback: only failures need it.
        self._acks.append((mid, (reason.value, str(reason)) if reason.is_failure else None))
        self._wake.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic != self.replay_topic:
            return
        try:
            request = parse_replay_request(bytes(message.payload))
            self._replays.put_nowait(request)
        except BrokerError as exc:
            self._replay_drops.inc()
            logger.warning("ignoring replay request: %s", exc)
            return
        except queue.Full:
            self._replay_drops.inc()
            logger.warning("replay queue full (%d requests): dropping one", REPLAY_QUEUE_SIZE)
            return
        logger.info("replay of seq %d..%d requested", request.from_seq, request.to_seq)
        self._wake.set()

    # -- publisher thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                idle = not self._wake.wait(IDLE_WAKE_S)
                self._wake.clear()
                try:
                    if idle:
                        self._outbox.maybe_prune()
                    self._settle_acks()
                    if self._state is DeliveryState.CONNECTED:
                        self._fill_window()
                except OutboxError as exc:
                    # The disk refuses (full): keep what is in flight, try again on the next wake-up.
                    self._note_outbox_error(exc)
        except Exception:
            logger.exception("MQTT publisher thread failed; alerts stay in the outbox")
            self._set_state(DeliveryState.STOPPED, "publisher thread failed; see the log")
        finally:
            self._shutdown()

    def _note_outbox_error(self, exc: OutboxError) -> None:
        with self._status_lock:
            changed = self._outbox_error != str(exc)
            self._outbox_error = str(exc)
        if changed:
            logger.error("MQTT publisher cannot use the outbox (%s); retrying", exc)

    def _settle_acks_at_shutdown(self) -> None:
        try:
            self._settle_acks()
        except OutboxError as exc:
            # Unmarked acks only mean those alerts are sent again after the restart (deduplicated).
            logger.warning("could not mark the last deliveries: %s", exc)

    def _settle_dropped(self) -> None:
        while self._dropped:
            mid, seq = self._dropped.popleft()
            if self._inflight.pop(mid, None) is None:
                continue  # acknowledged after all
            forget_held(self._client, mid)  # else sent again first on every reconnect
            self._give_up_image(
                seq,
                f"the connection dropped each of the {LOSSES_BEFORE_GIVING_UP} times it was the oldest "
                f"message in flight ({self._outbox_image_size(seq)}; a broker message size limit?)",
            )

    def _settle_acks(self) -> None:
        self._settle_dropped()
        delivered = self._unmarked
        self._unmarked = []
        now = time.monotonic()
        while self._acks:
            mid, failure = self._acks.popleft()
            message = self._inflight.pop(mid, None)
            if message is None:
                continue  # status or camera-state message
            if failure is not None:
                self._refused.inc()
                self._note_refusal(message, *failure, now)
                continue
            self._retry_delay.pop(message, None)
            delivered.append(message)
        if delivered:
            alerts = [seq for seq, evidence in delivered if not evidence]
            images = [seq for seq, evidence in delivered if evidence]
            self._last_acked_seq = max(self._last_acked_seq, *alerts) if alerts else self._last_acked_seq
            try:
                self._outbox.mark_delivered(alerts, images)
            except OutboxError:
                # Acknowledged by the broker, just not yet marked: mark them on the next wake-up.
                self._unmarked = delivered
                raise
            self._delivered.inc(len(alerts))
            self._evidence_delivered.inc(len(images))
            with self._status_lock:
                self._outbox_error = None
        self._inflight_gauge.set(len(self._inflight))

    def _note_refusal(self, message: _Message, code: int, reason: str, now: float) -> None:
        seq, evidence = message
        if evidence and code in PERMANENT_IMAGE_REFUSALS:
            self._retry_delay.pop(message, None)
            self._give_up_image(seq, f"the broker refused it ({self._outbox_image_size(seq)}): {reason}")
            return
        delay = self._retry_delay.get(message, self._config.reconnect_min_s / 2) * 2
        delay = min(delay, self._config.reconnect_max_s)
        self._retry_delay[message] = delay
        self._retry.append((now + delay, message))
        what = "the evidence of alert" if evidence else "alert"
        error = f"broker refused {what} seq {seq}: {reason} (sent again in {delay:g} s)"
        if (evidence, reason) not in self._logged_refusals:
            # Once per kind and reason: a broker that refuses every alert would otherwise flood the log.
            self._logged_refusals.add((evidence, reason))
            logger.error("MQTT %s: %s; check the broker's ACL and limits", self._address, error)
        with self._status_lock:
            self._last_error = error

    def _give_up_image(self, seq: int, why: str) -> None:
        self._undeliverable.inc()
        self._given_up.add(seq)
        error = (
            f"evidence image of alert seq {seq} not delivered: {why}; not sent again until the gateway "
            f"restarts (it stays in the outbox, served at /v1/events/{seq}/evidence.jpg); raise the broker's "
            "message size limit"
        )
        logger.error("MQTT %s: %s", self._address, error)
        with self._status_lock:
            self._last_error = error

    def _outbox_image_size(self, seq: int) -> str:
        images = self._outbox.replay_evidence(seq, seq)
        return f"{len(images[0].data)} bytes" if images else "size unknown"

    def _fill_window(self) -> None:
        room = self._config.max_inflight - len(self._inflight)
        now = time.monotonic()
        due = [message for at, message in self._retry if at <= now][:room]
        if due:
            resent = set(due)
            self._retry = [(at, message) for at, message in self._retry if message not in resent]
            for seq, evidence in due:
                if evidence:
                    self._send_all([], self._outbox.replay_evidence(seq, seq))
                else:
                    self._send_all(self._outbox.replay(seq, seq), [])
            room -= len(due)
        while room > 0 and (self._replay_ranges or not self._replays.empty()):
            if not self._replay_ranges:
                request = self._replays.get_nowait()
                self._replay_ranges.append([request.from_seq, request.to_seq])
            span = self._replay_ranges[0]
            # Half the room for alerts, the rest for their images (an image's alert is always kept).
            share = max(1, room // 2)
            rows = self._outbox.replay(span[0], span[1], limit=share)
            upper = rows[-1].seq if len(rows) == share else span[1]
            room -= self._send_all(rows, self._outbox.replay_evidence(span[0], upper, limit=share))
            if upper < span[1]:
                span[0] = upper + 1
            else:
                self._replay_ranges.popleft()
        if room > 0:
            rows = self._outbox.pending(after_seq=self._last_sent_seq, limit=room)
            images = [
                image
                for image in self._outbox.pending_evidence(after_seq=self._last_sent_evidence_seq, limit=room)
                if image.seq not in self._given_up
            ]
            merged = sorted([(row.seq, False) for row in rows] + [(image.seq, True) for image in images])
            sent = set(merged[:room])
            self._send_all([row for row in rows if (row.seq, False) in sent],
                           [image for image in images if (image.seq, True) in sent])  # fmt: skip
            for seq, evidence in sent:
                if evidence:
                    self._last_sent_evidence_seq = max(self._last_sent_evidence_seq, seq)
                else:
                    self._last_sent_seq = max(self._last_sent_seq, seq)
            if len(sent) == room:
                self._wake.set()  # more waiting: come back as soon as acks free the window
        self._inflight_gauge.set(len(self._inflight))

    def _send_all(self, alerts: Sequence[StoredAlert], images: Sequence[StoredEvidence]) -> int:
        """Publish alerts and images in seq order, each image right after its alert; returns how many."""
        messages = sorted(
            [(alert.seq, False, alert.payload) for alert in alerts]
            + [(image.seq, True, image.data) for image in images]
        )
        sent = 0
        limit = self._max_packet_size
        for seq, evidence, payload in messages:
            topic = self.evidence_topic.format(seq=seq) if evidence else self.alerts_topic
            if evidence and limit is not None and (size := publish_packet_size(topic, payload)) > limit:
                self._give_up_image(
                    seq, f"its {size}-byte packet exceeds the broker's maximum packet size {limit}"
                )
                continue
            info = self._client.publish(topic, payload, qos=1)
            # paho keeps the message (and re-sends it on reconnect) even when rc says not connected.
            self._inflight[info.mid] = (seq, evidence)
            (self._evidence_published if evidence else self._published).inc()
            sent += 1
        return sent

    def _shutdown(self) -> None:
        self._settle_acks_at_shutdown()
        if self.status().state is DeliveryState.CONNECTED:
            info = self._client.publish(self.status_topic, state_payload("offline"), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError) as exc:
                logger.warning("could not publish offline status: %s", exc)
            self._settle_acks_at_shutdown()
        close_client(self._client)
        self._set_state(DeliveryState.STOPPED, None)
        logger.info("MQTT publisher stopped at acked seq %d", self._last_acked_seq)
