"""MqttPublisher: alerts and their evidence from the outbox to the broker at QoS 1, in seq order,
never dropped.

Threads: paho's network thread (``loop_start``) runs the callbacks; the named ``mqtt-publisher``
thread owns the in-flight window (``mqtt_window``: mid -> seq, what is sent next, what a PUBACK
settles) and is the only one that reads the outbox for sending. Callbacks only append to deques
and set the wake event, because paho calls ``on_publish`` while holding its own message lock, which
``publish()`` also takes: any lock shared between the two would deadlock. The one exception is a
failed connect to an mqtts:// broker: paho does not say why, so ``on_connect_fail`` runs one TLS
handshake of its own (``gateway.protocol.mqtt_tls``, at most PROBE_TIMEOUT_S, while paho's loop has
nothing else to do) and the error names the cause, logged once per distinct cause.

Connection rules (the delivery rules are ``mqtt_window``'s):
- the client keeps its session (MQTT v5 session expiry, or a persistent 3.1.1 session); the status
  topic says ``online`` on every connect and ``offline`` as the last will and on ``stop``;
- on a reconnect paho re-sends the messages it still holds (same mid, DUP set); after a restart the
  publisher starts from the oldest undelivered alert. Duplicates are possible, losses are not: the
  audit log stores each (device_id, seq) once;
- replay requests on ``{prefix}/{device_id}/replay`` (``{"from_seq": a, "to_seq": b}``,
  ``mqtt_replay``) are queued (bounded, drops counted) and served by the window.

Outbox reads: a read of what to send that fails (a page of the file damaged where only the publisher
reads) sends nothing, so it is told to ``read_failures`` (the gateway's, which ``/v1/status`` names
and which logs each error once); the thread lives on and reads again at the next wake-up (at most
IDLE_WAKE_S later), delivering as soon as a read succeeds. Before, the publisher only logged it, and
the gateway answered healthy while nothing was delivered.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery import delivery_state
from gateway.delivery.mqtt_metrics import PublisherMetrics
from gateway.delivery.mqtt_replay import REPLAY_QUEUE_SIZE, ReplayRequest, parse_replay_request
from gateway.delivery.mqtt_window import DeliveryWindow
from gateway.delivery.outbox import Outbox
from gateway.delivery.wall_clock import WallClockWatch
from gateway.domain import DeliveryState, DeliveryStatus
from gateway.errors import BrokerError, OutboxError
from gateway.protocol.mqtt_link import close_client, make_client, state_payload
from gateway.protocol.mqtt_tls import ClientTls, ConnectFailures

__all__ = ["MqttPublisher", "ReplayRequest", "parse_replay_request"]

logger = logging.getLogger(__name__)

IDLE_WAKE_S = 0.5


class ReadFailures(Protocol):
    """Where the publisher tells how its outbox reads went (``gateway.pipeline.outbox_read_failures``):
    each that failed, and each that succeeded, which ends the naming of an error whose cause passed."""

    def failed(self, exc: OutboxError) -> None: ...

    def succeeded(self) -> None: ...


class MqttPublisher:
    def __init__(
        self,
        config: MqttConfig,
        device_id: str,
        outbox: Outbox,
        registry: CollectorRegistry,
        *,
        read_failures: ReadFailures | None = None,
    ) -> None:
        """``read_failures``: told each read of what to send that fails; without it such a read is
        only logged (once per distinct error)."""
        self._config = config
        self._outbox = outbox
        self._read_failures = read_failures
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
        self._connect_failures = ConnectFailures(
            self._address,
            ClientTls(ca_file=config.ca_file, cert_file=config.cert_file, key_file=config.key_file),
        )
        self._clock = WallClockWatch()
        """Read by the publisher thread at each wake-up (``gateway.delivery.wall_clock``)."""
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._metrics = PublisherMetrics(registry)
        self._window = DeliveryWindow(
            self._client,
            config,
            outbox,
            address=self._address,
            topics=(self.alerts_topic, self.evidence_topic),
            metrics=self._metrics,
            wake=self._wake,
            report_error=self._report_error,
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
                last_acked_seq=self._window.last_acked_seq,
                inflight=self._window.inflight,
            )

    def publish_camera_state(self, camera_id: str, state: str, fps: float) -> None:
        """Retained ``{prefix}/{device_id}/cameras/{camera_id}/state``; queued by paho while offline."""
        payload = state_payload(state, fps=round(fps, 3))
        self._client.publish(self._camera_topic.format(camera_id=camera_id), payload, qos=1, retain=True)

    # -- paho callbacks (network thread): record and wake, nothing more ----------------------------

    def _set_state(self, state: DeliveryState, error: str | None, *, log: bool = True) -> None:
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
        self._metrics.connected.set(1 if state is DeliveryState.CONNECTED else 0)
        if changed and log:
            # Logged once per distinct error, not on every reconnect attempt.
            logger.error("MQTT %s: %s", self._address, error)

    def _report_error(self, error: str) -> None:
        with self._status_lock:
            self._last_error = error

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
        self._window.max_packet_size = limit if isinstance(limit, int) and limit > 0 else None
        self._connect_failures.connected()
        self._set_state(DeliveryState.CONNECTED, None)
        logger.info(
            "MQTT connected to %s (session present: %s, maximum packet size: %s)",
            self._address,
            flags.session_present,
            self._window.max_packet_size or "no limit",
        )
        self._announce_online(client)
        client.subscribe(self.replay_topic, qos=1)
        self._wake.set()

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        # Logged once per distinct cause until a connect succeeds, even when two causes alternate.
        error, first = self._connect_failures.failed(probe=not self._stop.is_set())
        self._set_state(DeliveryState.RECONNECTING, error, log=first)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, _flags: object, reason: ReasonCode, _properties: object
    ) -> None:
        if self._stop.is_set():
            return
        self._window.note_loss()
        with self._status_lock:
            refused = self._state is DeliveryState.REFUSED
        if not refused:
            self._set_state(DeliveryState.RECONNECTING, f"connection lost: {reason}")

    def _on_publish(
        self, _client: mqtt.Client, _userdata: object, mid: int, reason: ReasonCode, _properties: object
    ) -> None:
        # str(reason) costs more than the rest of this callback: only failures need it.
        self._window.acks.append((mid, (reason.value, str(reason)) if reason.is_failure else None))
        self._wake.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic != self.replay_topic:
            return
        try:
            request = parse_replay_request(bytes(message.payload))
            self._window.replays.put_nowait(request)
        except BrokerError as exc:
            self._metrics.replay_drops.inc()
            logger.warning("ignoring replay request: %s", exc)
            return
        except queue.Full:
            self._metrics.replay_drops.inc()
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
                self._announce_clock_step()
                try:
                    if idle:
                        self._outbox.maybe_prune()
                    self._window.settle_acks()
                except OutboxError as exc:
                    # The disk refuses (full): keep what is in flight, try again on the next wake-up.
                    self._window.note_outbox_error(exc)
                    continue
                if self._state is DeliveryState.CONNECTED:
                    self._fill()
        except Exception:
            logger.exception("MQTT publisher thread failed; alerts stay in the outbox")
            self._set_state(DeliveryState.STOPPED, "publisher thread failed; see the log")
        finally:
            self._shutdown()

    def _announce_clock_step(self) -> None:
        """A fresh retained ``online`` when the wall clock was stepped: its ``ts`` is what the audit
        measures this device's clock offset from, and the one sent on connecting is now off by the
        step."""
        step = self._clock.stepped(time.time(), time.monotonic())
        if step is None or self._state is not DeliveryState.CONNECTED:
            return
        logger.warning("the wall clock was stepped by %+.1f s: announcing the device online again", step)
        self._announce_online(self._client)

    def _announce_online(self, client: mqtt.Client) -> None:
        """The retained ``online`` status, its ``ts`` the wall clock now."""
        client.publish(self.status_topic, state_payload("online"), qos=1, retain=True)

    def _fill(self) -> None:
        """Send what the outbox holds to send; a read that fails is tried again at the next wake-up."""
        try:
            read = self._window.fill()
        except OutboxError as exc:
            # Nothing is sent while it fails: the gateway's status must say so, not only the log.
            if self._read_failures is None:
                self._window.note_outbox_error(exc)
            else:
                self._read_failures.failed(exc)
            return
        if read and self._read_failures is not None:
            # Only a read that was made says reads succeed again: a full window reads nothing.
            self._read_failures.succeeded()

    def _settle_acks_at_shutdown(self) -> None:
        try:
            self._window.settle_acks()
        except OutboxError as exc:
            # Unmarked acks only mean those alerts are sent again after the restart (deduplicated).
            logger.warning("could not mark the last deliveries: %s", exc)

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
        logger.info("MQTT publisher stopped at acked seq %d", self._window.last_acked_seq)
