"""Every device's online/offline state, for every audit instance: ``{prefix}/+/status`` read on an
MQTT connection of the instance's own.

A broker does not deliver retained messages to a shared subscription (MQTT v5), and status is
retained: a device publishes ``online`` on connecting (and again when its wall clock is stepped,
``gateway.delivery.wall_clock``) and the broker publishes its last will (``offline``) when the
connection drops, so an instance that subscribed later would never learn a state through the
``$share`` group. Each instance therefore subscribes to the status topics on an
ordinary subscription, on a clean session (client id ``{client_id}:status``, no session kept): every
(re)connect brings the retained current state of every device and then each change as it happens,
never a backlog of stale changes queued while the instance was away. Status is state, not a
stream, so nothing is lost by not queueing it; messages are acknowledged on arrival and written by
the store thread (``gateway.audit.fleet``), which orders writes from several instances.

The ``:`` in that client id is one no configured client id holds (an audit ``client_id`` is a name,
and a gateway's default is ``edge-gateway-{device_id}``): with ``-status`` an instance whose client
id was ``x-status``, or a gateway whose device id was ``audit-status``, took over the status
connection of the instance named ``x`` (or of the default, then ``edge-gateway-audit``), and the broker
closed one of the two connections each time the other reconnected, for as long as both ran.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.audit.records import ReceivedMessage
from gateway.config import AuditConfig
from gateway.errors import AuditError, BrokerError
from gateway.protocol.mqtt_link import close_client, make_client

logger = logging.getLogger(__name__)


STATUS_SUFFIX = ":status"


def status_client_id(client_id: str) -> str:
    """The status connection's client id for an instance whose own is ``client_id``."""
    return f"{client_id}{STATUS_SUFFIX}"


class StatusListener:
    """``start()`` connects in the background (reconnecting as paho does); ``stop()`` disconnects.

    ``deliver`` runs on paho's network thread for each status message; it may block (backpressure).
    """

    def __init__(self, config: AuditConfig, deliver: Callable[[ReceivedMessage], None]) -> None:
        self.topic = f"{config.mqtt.topic_prefix}/+/status"
        self._deliver = deliver
        self._keepalive_s = config.mqtt.keepalive_s
        try:
            self._client, self._address, self._properties = make_client(
                config.mqtt, status_client_id(config.client_id), persistent_session=False
            )
        except BrokerError as exc:
            raise AuditError(str(exc)) from exc
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._arrivals = itertools.count(1)
        """Counted on paho's network thread, the only one that reads messages."""

    def start(self) -> None:
        self._client.connect_async(
            self._address.host,
            self._address.port,
            keepalive=self._keepalive_s,
            clean_start=True,
            properties=self._properties,
        )
        self._client.loop_start()

    def stop(self) -> None:
        close_client(self._client)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            # The subscriber's own connection reports refusals (same broker, same credentials).
            logger.warning("audit: the status connection was refused: %s", reason_code)
            return
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._deliver(
            ReceivedMessage(
                message.topic,
                bytes(message.payload),
                time.time(),
                live=not message.retain,
                arrival=next(self._arrivals),
            )
        )
