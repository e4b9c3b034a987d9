"""The moves the MQTT publisher's ``DeliveryState`` may make.

::

    CONNECTING ──connected──► CONNECTED ──connection lost──► RECONNECTING ──connected──► CONNECTED
        │                         │                              │
        └──broker says no──► REFUSED ◄──────broker says no───────┘

A state may move to itself (a retry with a new error), REFUSED and RECONNECTING lead back to
CONNECTED once the broker admits the client, and every state may move to STOPPED, which is final.
``OUTBOX_ONLY`` is the gateway without a broker; the publisher never takes it.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.domain import DeliveryState

CONNECTING, CONNECTED = DeliveryState.CONNECTING, DeliveryState.CONNECTED
RECONNECTING, REFUSED, STOPPED = DeliveryState.RECONNECTING, DeliveryState.REFUSED, DeliveryState.STOPPED

ALLOWED: Mapping[DeliveryState, frozenset[DeliveryState]] = {
    CONNECTING: frozenset({CONNECTING, CONNECTED, RECONNECTING, REFUSED, STOPPED}),
    CONNECTED: frozenset({RECONNECTING, REFUSED, STOPPED}),
    RECONNECTING: frozenset({RECONNECTING, CONNECTED, REFUSED, STOPPED}),
    REFUSED: frozenset({REFUSED, RECONNECTING, CONNECTED, STOPPED}),
    STOPPED: frozenset(),
    DeliveryState.OUTBOX_ONLY: frozenset(),
}


def allowed(previous: DeliveryState, target: DeliveryState) -> bool:
    return target in ALLOWED[previous]
