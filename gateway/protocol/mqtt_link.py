"""Building a paho client from MqttConfig: URL, TLS, credentials, protocol, session and last will.

Kept apart from the publisher so the audit subscriber and tests can make clients the same way.
paho is imported only in gateway/delivery/.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.config import MqttConfig, read_text_file
from gateway.config.text_file import text_problem
from gateway.errors import BrokerError, ConfigProblem
from gateway.protocol.alerts import format_timestamp

PASSWORD_KEY = "mqtt.password_file"

SESSION_EXPIRY_S = 7 * 24 * 3600
"""MQTT v5 session kept by the broker while the gateway is away, so replay requests wait for it."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def broker_address(url: str) -> BrokerAddress:
    """``mqtt://host[:port]`` / ``mqtts://host[:port]``; credentials in the URL are ignored, never logged."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    if parts.hostname is None:
        raise BrokerError("mqtt.url has no host")
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls)


class PasswordFileError(BrokerError):
    """A password file no password can be read from; ``problem`` names it as the config's problems
    are, for the start-up checks to list with them."""

    def __init__(self, problem: ConfigProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read_password(config: MqttConfig) -> str | None:
    """The password in ``config.password_file`` without its line end, None when there is no file;
    PasswordFileError naming the file, the key and the problem as the config's and the tokens file's
    errors do (undecodable bytes by line and column), for the gateway and the audit service alike."""
    path = config.password_file
    if path is None:
        return None
    try:
        password = read_text_file(path).rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswordFileError(text_problem(exc, str(path), PASSWORD_KEY, secret=True)) from exc
    if not password:
        # The installer lays down an empty credential to be filled in; connecting with it would only
        # surface later as a vague "not authorized".
        raise PasswordFileError(ConfigProblem(str(path), None, PASSWORD_KEY, "is empty"))
    return password


def state_payload(state: str, **fields: object) -> bytes:
    return json.dumps(
        {"state": state, **fields, "ts": format_timestamp(time.time())}, separators=(",", ":")
    ).encode()


def make_client(
    config: MqttConfig,
    client_id: str,
    *,
    will: tuple[str, bytes] | None = None,
    persistent_session: bool = True,
) -> tuple[mqtt.Client, BrokerAddress, Properties | None]:
    """A configured, not yet connected client, its address and the CONNECT properties (v5)."""
    address = broker_address(config.url)
    v5 = config.protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else not persistent_session,
    )
    if address.tls:
        try:
            client.tls_set(
                ca_certs=str(config.ca_file) if config.ca_file is not None else None,
                certfile=str(config.cert_file) if config.cert_file is not None else None,
                keyfile=str(config.key_file) if config.key_file is not None else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (OSError, ValueError) as exc:
            raise BrokerError(f"mqtt TLS files: {exc}") from exc
    password = read_password(config)
    if config.username is not None or password is not None:
        client.username_pw_set(config.username or "", password)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    # paho types these as int but computes with floats; sub-second backoff matters on a LAN.
    client.reconnect_delay_set(config.reconnect_min_s, config.reconnect_max_s)  # type: ignore[arg-type]
    properties: Properties | None = None
    if v5:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S if persistent_session else 0
    return client, address, properties


def close_client(client: mqtt.Client) -> None:
    """Disconnect, stop the network thread and close paho's wake-up socket pair.

    paho closes that pair only in ``Client.__del__``; a client held in a reference cycle (its
    callbacks are bound methods of an object that holds it) is collected by the cycle collector,
    which may finalise the sockets first: an fd leak and a ResourceWarning per client.
    """
    client.disconnect()
    client.loop_stop()
    client._reset_sockets(sockpair_only=True)
