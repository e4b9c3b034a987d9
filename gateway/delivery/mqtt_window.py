"""The publisher's in-flight window: which outbox messages go to the broker next, and what each
PUBACK, refusal or lost connection settles.

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
- replay requests are served from the outbox byte-identical, through the same window;
- evidence: each image the outbox holds goes to ``{prefix}/{device_id}/evidence/{seq}`` (QoS 1, not
  retained, the bytes exactly), right after its alert, and again when a replay covers its seq. An
  image is its own message in the window, marked delivered on its own PUBACK and retried like an
  alert; its alert's delivery does not wait for it (the audit side accepts either order).

Threads: everything here runs on the publisher thread, except ``note_loss`` (paho's network
thread) and the appends to ``acks`` and ``replays`` (the publisher's paho callbacks).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt

from gateway.config import MqttConfig
from gateway.delivery.mqtt_metrics import PublisherMetrics
from gateway.delivery.mqtt_packets import forget_held, oldest_held, publish_packet_size
from gateway.delivery.mqtt_replay import REPLAY_QUEUE_SIZE, ReplayRequest
from gateway.delivery.outbox import Outbox, StoredAlert, StoredEvidence
from gateway.errors import OutboxError
from gateway.protocol.mqtt_link import BrokerAddress

logger = logging.getLogger(__name__)

PERMANENT_IMAGE_REFUSALS = frozenset({0x90, 0x95, 0x99})
"""PUBACK reason codes that sending the same image again cannot change: topic name invalid, packet
too large, payload format invalid."""

LOSSES_BEFORE_GIVING_UP = 3

Message = tuple[int, bool]
"""(seq, is_evidence): an alert or the image of alert seq; sorts an alert before its image."""


class DeliveryWindow:
    def __init__(
        self,
        client: mqtt.Client,
        config: MqttConfig,
        outbox: Outbox,
        *,
        address: BrokerAddress,
        topics: tuple[str, str],
        metrics: PublisherMetrics,
        wake: threading.Event,
        report_error: Callable[[str], None],
    ) -> None:
        """``topics``: the alerts topic and the evidence topic (with ``{seq}``); ``report_error``
        makes an error the publisher's ``last_error``."""
        self._client = client
        self._config = config
        self._outbox = outbox
        self._address = address
        self._alerts_topic, self._evidence_topic = topics
        self._metrics = metrics
        self._wake = wake
        self._report_error = report_error
        self.acks: collections.deque[tuple[int, tuple[int, str] | None]] = collections.deque()
        """(mid, (reason code, reason) of a failure or None), appended by ``on_publish``."""
        self.replays: queue.Queue[ReplayRequest] = queue.Queue(REPLAY_QUEUE_SIZE)
        self.max_packet_size: int | None = None
        """The broker's Maximum Packet Size (CONNACK, v5), or None: no limit announced."""
        # Owned by the publisher thread only.
        self._inflight: dict[int, Message] = {}
        self._last_sent_seq = 0
        self._last_sent_evidence_seq = 0
        self.last_acked_seq = 0
        self._retry: list[tuple[float, Message]] = []
        self._retry_delay: dict[Message, float] = {}
        self._logged_refusals: set[tuple[bool, str]] = set()
        self._given_up: set[int] = set()
        # Network thread only: (seq, losses in a row with that image the oldest message unacknowledged).
        self._suspect: tuple[int, int] | None = None
        self._dropped: collections.deque[tuple[int, int]] = collections.deque()
        """(mid, seq) of images to take out of paho's queue after repeated losses (publisher thread)."""
        self._unmarked: list[Message] = []
        self._outbox_error: str | None = None
        self._replay_ranges: collections.deque[list[int]] = collections.deque()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def note_loss(self) -> None:
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

    def note_outbox_error(self, exc: OutboxError) -> None:
        changed = self._outbox_error != str(exc)
        self._outbox_error = str(exc)
        if changed:
            logger.error("MQTT publisher cannot use the outbox (%s); retrying", exc)

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

    def settle_acks(self) -> None:
        self._settle_dropped()
        delivered = self._unmarked
        self._unmarked = []
        now = time.monotonic()
        while self.acks:
            mid, failure = self.acks.popleft()
            message = self._inflight.pop(mid, None)
            if message is None:
                continue  # status or camera-state message
            if failure is not None:
                self._metrics.refused.inc()
                self._note_refusal(message, *failure, now)
                continue
            self._retry_delay.pop(message, None)
            delivered.append(message)
        if delivered:
            alerts = [seq for seq, evidence in delivered if not evidence]
            images = [seq for seq, evidence in delivered if evidence]
            self.last_acked_seq = max(self.last_acked_seq, *alerts) if alerts else self.last_acked_seq
            try:
                self._outbox.mark_delivered(alerts, images)
            except OutboxError:
                # Acknowledged by the broker, just not yet marked: mark them on the next wake-up.
                self._unmarked = delivered
                raise
            self._metrics.delivered.inc(len(alerts))
            self._metrics.evidence_delivered.inc(len(images))
            self._outbox_error = None
        self._metrics.inflight.set(len(self._inflight))

    def _note_refusal(self, message: Message, code: int, reason: str, now: float) -> None:
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
        self._report_error(error)

    def _give_up_image(self, seq: int, why: str) -> None:
        self._metrics.undeliverable.inc()
        self._given_up.add(seq)
        error = (
            f"evidence image of alert seq {seq} not delivered: {why}; not sent again until the gateway "
            f"restarts (it stays in the outbox, served at /v1/events/{seq}/evidence.jpg); raise the broker's "
            "message size limit"
        )
        logger.error("MQTT %s: %s", self._address, error)
        self._report_error(error)

    def _outbox_image_size(self, seq: int) -> str:
        images = self._outbox.replay_evidence(seq, seq)
        return f"{len(images[0].data)} bytes" if images else "size unknown"

    def fill(self) -> bool:
        """Send what the outbox holds to send, as far as the window has room; whether it read the
        outbox (a window full of messages awaiting their PUBACK reads nothing)."""
        room = self._config.max_inflight - len(self._inflight)
        if room <= 0:
            return False
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
        # New alerts waiting keep up to half the room while a replay is served: a replay of 100,000
        # alerts would otherwise hold back every alert decided meanwhile until its last one was sent.
        replaying = bool(self._replay_ranges) or not self.replays.empty()
        kept = len(self._outbox.pending(after_seq=self._last_sent_seq, limit=room // 2)) if replaying else 0
        room -= kept
        while room > 0 and (self._replay_ranges or not self.replays.empty()):
            if not self._replay_ranges:
                request = self.replays.get_nowait()
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
        room += kept
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
        self._metrics.inflight.set(len(self._inflight))
        return True

    def _send_all(self, alerts: Sequence[StoredAlert], images: Sequence[StoredEvidence]) -> int:
        """Publish alerts and images in seq order, each image right after its alert; returns how many."""
        messages = sorted(
            [(alert.seq, False, alert.payload) for alert in alerts]
            + [(image.seq, True, image.data) for image in images]
        )
        sent = 0
        limit = self.max_packet_size
        for seq, evidence, payload in messages:
            topic = self._evidence_topic.format(seq=seq) if evidence else self._alerts_topic
            if evidence and limit is not None and (size := publish_packet_size(topic, payload)) > limit:
                self._give_up_image(
                    seq, f"its {size}-byte packet exceeds the broker's maximum packet size {limit}"
                )
                continue
            info = self._client.publish(topic, payload, qos=1)
            # paho keeps the message (and re-sends it on reconnect) even when rc says not connected.
            self._inflight[info.mid] = (seq, evidence)
            (self._metrics.evidence_published if evidence else self._metrics.published).inc()
            sent += 1
        return sent
