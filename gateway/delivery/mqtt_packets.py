"""What the publisher needs to know of MQTT packets beyond paho's public API: the size of a
PUBLISH, and the messages paho holds to send again on a reconnect.

paho has no public way to see or forget a QoS 1 message it holds: it sends each again first on
every reconnect, so a message the broker drops the connection for (an image over mosquitto's
``message_size_limit``) would hold back everything behind it forever. Its internals are read here
only, defensively: where a paho release keeps them otherwise, ``oldest_held`` says None and that
one remedy is off (tests/unit/delivery/test_mqtt_packets.py pins it to the paho installed), rather than an
AttributeError on paho's network thread, which paho re-raises out of its loop by default.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from typing import Any


def publish_packet_size(topic: str, payload: bytes) -> int:
    """Bytes of an MQTT v5 QoS 1 PUBLISH without properties: what Maximum Packet Size limits."""
    remaining = 2 + len(topic.encode()) + 2 + 1 + len(payload)
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16_384 else 3 if remaining < 2_097_152 else 4
    return 1 + length_bytes + remaining


def _held(client: Any) -> tuple[Any, MutableMapping[int, Any]] | None:
    lock = getattr(client, "_out_message_mutex", None)
    messages = getattr(client, "_out_messages", None)
    if not isinstance(lock, type(threading.RLock())) or not isinstance(messages, MutableMapping):
        return None
    return lock, messages


def oldest_held(client: Any) -> int | None:
    """The mid of the oldest message ``client`` holds to (re)send, or None: none, or not knowable."""
    held = _held(client)
    if held is None:
        return None
    lock, messages = held
    with lock:
        return next(iter(messages), None)


def forget_held(client: Any, mid: int) -> None:
    """Let ``client`` forget message ``mid``, so no reconnect sends it again; paho recounts its
    in-flight messages when it reconnects."""
    held = _held(client)
    if held is not None:
        lock, messages = held
        with lock:
            messages.pop(mid, None)
