"""The cloud-side audit subscriber: every alert of every device, verified and stored exactly once.

It holds a persistent MQTT session (v5 ``clean_start=False`` with a session expiry; ``clean_session
False`` on 3.1.1) and subscribes at QoS 1 to ``$share/{group}/{prefix}/+/alerts``, so several
instances with different client ids split the stream and the broker queues alerts for an instance
that is offline. mosquitto also keeps giving an offline member of the group its turn: that share
waits in the member's session until it returns (or the session expires, after which the others'
gap detection asks the devices for it again). To retire an instance for good, restart it once with
``session_expiry_s: 0`` (it resumes its session and stores what was queued there), then stop it:
with no session to keep, ``stop()`` first leaves the share group (UNSUBSCRIBE), then stores and
acknowledges what the broker had already handed it until nothing has come for RETIRE_QUIET_S, and
only then disconnects, so the session the broker drops holds nothing. It subscribes the same
way to ``$share/{group}/{prefix}/+/evidence/+``: the images of start and instant alerts, which the
store checks against their signed alerts (either may come first, through either instance).

Delivery is at least once, storage exactly once: paho runs with ``manual_ack``, so a PUBACK is sent
only after the transaction holding the alert has committed (the client is built by
``gateway.audit.subscriber_client``). A crash before that makes the broker
redeliver, and the store turns the copy into a no-op (unique on device_id + seq, same hash).
Messages cross from paho's network thread to the ``audit-store`` thread through a queue bounded by
``max_batch``, which is also the MQTT v5 receive maximum, so the broker never has more unacked
alerts in flight to us than the queue holds; the store thread commits up to ``max_batch`` of them per
transaction, which keeps a synchronous (fsync per commit) SQLite store ahead of the stream
(``gateway.audit.deliveries``).

A PUBACK is only sent on the connection that received the message: after a reconnect the broker
resends every unacked message under its original packet id, and acking the stale copy could
acknowledge a different message that reuses that id. The ``generation`` counter enforces this.

A failed connect is reported as the gateway's publisher reports it: paho gives no cause, so
``on_connect_fail`` runs one TLS handshake of its own to an mqtts:// broker
(``gateway.protocol.mqtt_tls``) and ``last_error`` names what refused it (the CA, the host name,
the dates), logged once per distinct cause until a connect succeeds.

Devices' status (online/offline) arrives on a connection of its own (``gateway.audit.status``:
retained messages never reach a shared subscription) and goes through the same queue and store
thread, into the fleet state every instance reads (``gateway.audit.fleet``).

Gaps (a seq missing below the highest stored one) and alerts whose image is missing are handed to
the ReplayScheduler; once one has been open for ``replay_after_s`` the device is asked on
``{prefix}/{device_id}/replay`` with ``{"from_seq": a, "to_seq": b}`` and republishes those alerts
and their images byte for byte. Only devices with a key here are asked: one taken out of the keys
file (retired, or its key withdrawn) was asked for its gaps at every start and then every five
minutes for good, and each replay it sent was rejected.

``replace_keys`` (``audit serve`` on SIGHUP) changes the keys for the messages that arrive after it
(``gateway.audit.keys_switch``): a batch never holds messages of two keys epochs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import CollectorRegistry

from gateway.audit.deliveries import Deliveries, Delivery
from gateway.audit.keys_file import SigningKeys
from gateway.audit.keys_switch import KeysSwitch
from gateway.audit.log_once import OncePerCause
from gateway.audit.replay import ProgressFeed, ReplayScheduler
from gateway.audit.status import StatusListener
from gateway.audit.store import AuditStore, DeviceProgress, Outcome, ReceivedMessage
from gateway.audit.subscriber_client import make_subscriber_client
from gateway.audit.subscriber_metrics import SubscriberMetrics
from gateway.audit.takeover import TakeoverWatch
from gateway.config import AuditConfig
from gateway.errors import AuditError
from gateway.protocol.alerts import canonical_json, format_timestamp
from gateway.protocol.mqtt_link import broker_address, close_client
from gateway.protocol.mqtt_tls import ClientTls, ConnectFailures
from gateway.wording import counted

logger = logging.getLogger(__name__)

IDLE_POLL_S = 0.2
RETIRE_QUIET_S = 1.0
STORE_RETRY_MIN_S = 0.5
STORE_RETRY_MAX_S = 30.0
_AUTH_FAILURES = frozenset({0x04, 0x05, 0x86, 0x87})
"""CONNACK codes for bad credentials: 3.1.1's 4 and 5, v5's "Bad user name or password", "Not authorized"."""


@dataclass(frozen=True, slots=True)
class StoreFailure:
    since: float
    """Wall-clock time of the first failure of this run of them."""
    held: int
    """Messages of the batch that waits, unacknowledged."""
    error: str


class AuditSubscriber:
    """``start()`` connects (and keeps reconnecting) in the background; ``stop()`` drains and leaves.

    The store is used only by this subscriber's store thread once ``start()`` has been called.
    """

    def __init__(self, config: AuditConfig, store: AuditStore, registry: CollectorRegistry) -> None:
        self._config = config
        self._store = store
        self._metrics = SubscriberMetrics(registry)
        self._prefix = config.mqtt.topic_prefix
        self._topic = f"$share/{config.share_group}/{self._prefix}/+/alerts"
        self._evidence_topic = f"$share/{config.share_group}/{self._prefix}/+/evidence/+"
        self._deliveries = Deliveries(config.max_batch, IDLE_POLL_S, self._metrics.queue_full.inc)
        self._scheduler = ReplayScheduler(config.replay_after_s)
        self._progress = ProgressFeed(self._scheduler)
        self._progress_failures = OncePerCause(
            logger, "audit: cannot read the devices' progress (asked again shortly)"
        )
        self._stop = threading.Event()
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._connected = False
        self._subscribed = threading.Event()
        self._unsubscribed = threading.Event()
        self._last_message_at = time.monotonic()
        self._broker_error: str | None = None
        self._store_error: str | None = None
        self._store_failure: StoreFailure | None = None
        """Set while a batch's store fails and is retried; None once one succeeds (one assignment,
        read from other threads)."""
        self._address = broker_address(config.mqtt.url)  # the config has checked it: never raises
        self._connect_failures = ConnectFailures(
            self._address,
            ClientTls(
                ca_file=config.mqtt.ca_file, cert_file=config.mqtt.cert_file, key_file=config.mqtt.key_file
            ),
        )
        self._takeover = TakeoverWatch(config.client_id)
        self._client = self._make_client()
        self._status = StatusListener(config, self._on_status)
        self._store_thread = threading.Thread(target=self._store_loop, name="audit-store", daemon=True)
        self._keys = KeysSwitch(store, self._scheduler, self._progress, self._metrics)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def topic(self) -> str:
        return self._topic

    def wait_subscribed(self, timeout_s: float) -> bool:
        """True once the broker has granted the subscription (alerts published after it are kept)."""
        return self._subscribed.wait(timeout_s)

    @property
    def last_error(self) -> str | None:
        """The store's failure or the broker's refusal, each cleared once that part works again."""
        return self._store_error or self._broker_error or self._takeover.warning

    @property
    def store_problem(self) -> str | None:
        """While storing fails and is retried: since when, what waits unacknowledged, and the error;
        None once a store succeeds. The log says it at each retry, but ``/v1/status``, STATUS= and the
        metrics looked healthy while nothing was stored."""
        failure = self._store_failure
        if failure is None:
            return None
        return (
            f"cannot store since {format_timestamp(failure.since)}, retrying: the "
            f"{counted(failure.held, 'message')} handed over are not acknowledged (the broker keeps "
            f"them; none is lost): {failure.error}"
        )

    @property
    def connection_problem(self) -> str | None:
        """The broker's refusal or a takeover of the client id, each cleared once that part works
        again; the store's failures are ``store_problem``."""
        return self._broker_error or self._takeover.warning

    def replace_keys(self, keys: SigningKeys) -> None:
        """Check the messages that arrive from now on with ``keys`` (any thread)."""
        self._keys.replace(keys)

    def _make_client(self) -> mqtt.Client:
        client = make_subscriber_client(self._config, self._address)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = lambda *_: self._unsubscribed.set()
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        properties: Properties | None = None
        if self._config.mqtt.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._config.session_expiry_s
            properties.ReceiveMaximum = self._config.max_batch
        self._store_thread.start()
        self._client.connect_async(
            self._address.host,
            self._address.port,
            keepalive=self._config.mqtt.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()
        self._status.start()
        logger.info(
            "audit: subscribing to %s on %s as %s", self._topic, self._config.mqtt.url, self._config.client_id
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """Store and acknowledge what has arrived, then disconnect keeping the session: whatever the
        broker sends after that stays queued for the next start. Without a session to keep
        (``session_expiry_s`` 0: retiring), leave the share group and store what was handed over first."""
        if self._config.session_expiry_s == 0 and self._connected:
            self._leave_group(timeout_s)
        self._stop.set()
        if self._store_thread.is_alive():
            self._store_thread.join(timeout_s)
        self._status.stop()
        close_client(self._client)
        self._connected = False
        self._metrics.connected.set(0)

    def _leave_group(self, timeout_s: float) -> None:
        self._client.unsubscribe([self._topic, self._evidence_topic])
        if not self._unsubscribed.wait(timeout_s):
            logger.warning("audit: the broker did not confirm leaving the share group; stopping anyway")
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._deliveries.empty() and time.monotonic() - self._last_message_at >= RETIRE_QUIET_S:
                break
            time.sleep(IDLE_POLL_S / 4)
        logger.info("audit: left the share group; what it had handed to this instance is stored")

    # paho's network thread.

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            hint = (
                " (check mqtt.username and mqtt.password_file)" if reason_code.value in _AUTH_FAILURES else ""
            )
            self._broker_error = f"the broker refused the connection: {reason_code}{hint}"
            logger.error("audit: %s", self._broker_error)
            return
        with self._ack_lock:
            self._generation += 1
        self._connected = True
        self._takeover.opened()
        self._broker_error = None
        self._connect_failures.connected()
        self._metrics.connected.set(1)
        logger.info("audit: connected (session present: %s)", flags.session_present)
        if self._config.mqtt.protocol == "5":
            options = SubscribeOptions(qos=1)
            client.subscribe([(self._topic, options), (self._evidence_topic, options)])
        else:
            client.subscribe([(self._topic, 1), (self._evidence_topic, 1)])

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if self._stop.is_set():
            return
        # Logged once per distinct cause until a connect succeeds, even when two causes alternate.
        self._broker_error, first = self._connect_failures.failed()
        if first:
            logger.error("audit: %s", self._broker_error)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._ack_lock:
            self._generation += 1
        self._connected = False
        self._metrics.connected.set(0)
        if not self._stop.is_set():
            logger.warning("audit: disconnected (%s); reconnecting", reason_code)
            if self._takeover.closed():
                logger.error("audit: %s", self._takeover.warning)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        failures = [code for code in reason_codes if code.is_failure]
        if not failures:
            logger.info("audit: subscribed to %s and %s", self._topic, self._evidence_topic)
            self._subscribed.set()
        for code in failures:
            self._broker_error = f"the broker refused the subscription to {self._topic}: {code}"
            logger.error("audit: %s", self._broker_error)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received = ReceivedMessage(message.topic, bytes(message.payload), time.time())
        self._last_message_at = time.monotonic()
        delivery = Delivery(received, message.mid, message.qos, self._generation, self._keys.epoch)
        self._deliveries.put(delivery, self._stop)

    def _on_status(self, message: ReceivedMessage) -> None:
        # Acknowledged on arrival by the status connection: QoS 0 here means "nothing to ack".
        self._deliveries.put(Delivery(message, 0, 0, -1, self._keys.epoch), self._stop)

    # The audit-store thread.

    @property
    def storing(self) -> bool:
        """The audit-store thread runs: False once ``stop`` has ended it, or a failure other than
        the database's (which it retries) has."""
        return self._store_thread.is_alive()

    def _store_loop(self) -> None:
        try:
            while True:
                batch = self._deliveries.next_batch()
                if batch:
                    self._keys.use(batch[0].keys_epoch)
                    self._store_batch(batch)
                elif self._stop.is_set():
                    return
                else:
                    # Idle: whatever arrives next is of the newest epoch.
                    self._keys.use(self._keys.epoch)
                self._keys.drop_unkeyed_held()
                self._feed_progress()
                self._request_replays()
        except Exception as exc:
            # Unacknowledged, the batch is delivered again to the next session; ``audit serve``
            # exits non-zero, so that its service manager restarts it and an operator sees why.
            logger.exception("audit: storing failed; stopping")
            self._store_error = f"storing failed: {exc}"

    def _store_batch(self, batch: list[Delivery]) -> None:
        delay = STORE_RETRY_MIN_S
        while True:
            try:
                results = self._store.ingest([delivery.message for delivery in batch])
                self._store_error = None
                self._store_failure = None
                break
            except AuditError as exc:
                self._metrics.store_errors.inc()
                self._store_error = str(exc)
                since = time.time() if self._store_failure is None else self._store_failure.since
                self._store_failure = StoreFailure(since, len(batch), str(exc))
                logger.error("audit: %s; retrying in %.1f s", exc, delay)
                if self._stop.wait(delay):
                    return  # unacknowledged: redelivered to the next session
                delay = min(delay * 2, STORE_RETRY_MAX_S)
        with self._ack_lock:
            for delivery in batch:
                if delivery.qos > 0 and delivery.generation == self._generation:
                    self._client.ack(delivery.mid, delivery.qos)
        self._metrics.count_drops(self._store.take_drops())
        self._metrics.count(results)
        self._progress.touched(
            result.device_id for result in results if result.outcome is Outcome.STORED and result.device_id
        )

    def _feed_progress(self) -> None:
        keyed = self._store.keyed_devices

        def keyed_progress(device_ids: Collection[str] | None) -> list[DeviceProgress]:
            return [progress for progress in self._store.progress(device_ids) if progress.device_id in keyed]

        try:
            self._progress.feed(keyed_progress, time.monotonic())
        except AuditError as exc:
            self._progress_failures.failed(exc)
            return
        self._progress_failures.succeeded()

    def _request_replays(self) -> None:
        for device_id in self._scheduler.due(time.monotonic()):
            try:
                ranges = self._store.missing_ranges(device_id)
            except AuditError as exc:
                logger.error("audit: cannot read the gaps of %s: %s", device_id, exc)
                continue
            for from_seq, to_seq in ranges:
                payload = canonical_json({"from_seq": from_seq, "to_seq": to_seq})
                self._client.publish(f"{self._prefix}/{device_id}/replay", payload, qos=1)
                self._metrics.replay_requests.inc()
                logger.info("audit: asked %s to replay seq %d..%d", device_id, from_seq, to_seq)
        self._metrics.open_gaps.set(self._scheduler.open_gaps)
