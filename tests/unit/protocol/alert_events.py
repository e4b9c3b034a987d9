"""The alert event the alert contract's tests build on: a person in the yard of camera gate."""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.domain import AlertEvent, AlertKind, ModelRef


def alert_event(number: int = 1, **changes: Any) -> AlertEvent:
    """Event ``gate:intrusion:{number}``, a start, with ``changes`` to any of its fields."""
    event = AlertEvent(
        event_id=f"gate:intrusion:{number}",
        kind=AlertKind.START,
        camera_id="gate",
        rule="intrusion",
        label="person",
        score=0.875,
        zone="yard",
        box=(0.1, 0.2, 0.3, 0.4),
        frame_ts=1_764_000_000.123456,
        model=ModelRef("person-detector", 2),
    )
    return dataclasses.replace(event, **changes)
