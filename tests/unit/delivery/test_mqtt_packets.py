"""gateway.delivery.mqtt_packets on the paho installed: the messages it holds to send again are
found and forgotten (a paho release that keeps them otherwise fails here, not on a broker), and a
PUBLISH's size is what the broker's Maximum Packet Size counts."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.delivery.mqtt_packets import forget_held, oldest_held, publish_packet_size


def test_a_message_published_while_unconnected_is_held_oldest_first_and_can_be_forgotten() -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="held", protocol=mqtt.MQTTv5)
    assert oldest_held(client) is None
    first = client.publish("site/alerts", b"one", qos=1).mid
    second = client.publish("site/alerts", b"two", qos=1).mid

    assert oldest_held(client) == first
    forget_held(client, first)
    assert oldest_held(client) == second
    forget_held(client, second)
    assert oldest_held(client) is None


def test_a_client_without_those_internals_is_left_alone() -> None:
    stranger = object()
    assert oldest_held(stranger) is None
    forget_held(stranger, 1)  # nothing to forget, and nothing raised


@pytest.mark.parametrize(
    ("payload_bytes", "expected"),
    [(0, 2 + 2 + 11 + 2 + 1), (200, 3 + 2 + 11 + 2 + 1 + 200), (20_000, 4 + 2 + 11 + 2 + 1 + 20_000)],
)
def test_a_publish_is_counted_with_its_header_topic_id_and_property_length(
    payload_bytes: int, expected: int
) -> None:
    assert publish_packet_size("site/alerts", bytes(payload_bytes)) == expected
