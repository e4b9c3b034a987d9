"""The audit subscriber's paho client, as the broker must see it: the instance's own client id, a
persistent session (v5 ``clean_start=False`` at connect, with the session expiry the subscriber
sends; 3.1.1 ``clean_session=False``), manual acknowledgement (a PUBACK only once the alert is
stored), the config's credentials and TLS files, and its reconnect backoff. The subscriber sets
the callbacks."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import AuditConfig, MqttConfig
from gateway.errors import AuditError, BrokerError
from gateway.protocol import mqtt_link
from gateway.protocol.mqtt_link import BrokerAddress


def read_password(config: MqttConfig) -> str | None:
    """The gateway's own reading of the password file (``mqtt_link.read_password``), its error an
    AuditError: the status connection reads the same file with it, and both name a problem alike."""
    try:
        return mqtt_link.read_password(config)
    except BrokerError as exc:
        raise AuditError(str(exc)) from exc


def make_subscriber_client(config: AuditConfig, address: BrokerAddress) -> mqtt.Client:
    """The client for ``config`` (no callbacks yet); AuditError when its password or TLS files
    cannot be used."""
    mqtt_config = config.mqtt
    version5 = mqtt_config.protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=config.client_id,
        protocol=mqtt.MQTTv5 if version5 else mqtt.MQTTv311,
        clean_session=None if version5 else False,
        manual_ack=True,
    )
    if mqtt_config.username is not None:
        client.username_pw_set(mqtt_config.username, read_password(mqtt_config))
    if address.tls:
        try:
            client.tls_set(
                ca_certs=None if mqtt_config.ca_file is None else str(mqtt_config.ca_file),
                certfile=None if mqtt_config.cert_file is None else str(mqtt_config.cert_file),
                keyfile=None if mqtt_config.key_file is None else str(mqtt_config.key_file),
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise AuditError(f"cannot set up TLS for {mqtt_config.url}: {exc}") from exc
    client.reconnect_delay_set(
        max(1, round(mqtt_config.reconnect_min_s)), max(1, round(mqtt_config.reconnect_max_s))
    )
    return client
