"""An event whose text no UTF-8 can carry (a lone surrogate, as a YAML or JSON escape can make) is an
unencodable alert like a NaN score: refused alone, by name, never an exception of another kind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.config import OutboxConfig
from gateway.delivery.outbox import Outbox
from gateway.domain import AlertEvent
from gateway.errors import OutboxError
from gateway.protocol.alerts import ZERO_HASH, InvalidAlertError, build_alert_payload, canonical_json
from tests.unit.protocol.alert_events import alert_event

KEY = b"k" * 32


def event(number: int = 0) -> AlertEvent:
    return alert_event(number, frame_ts=1_764_000_000.0 + number)


def test_canonical_json_refuses_a_lone_surrogate_as_an_invalid_alert() -> None:
    with pytest.raises(InvalidAlertError, match="canonical JSON"):
        canonical_json({"label": "\ud800"})


def test_building_an_alert_with_a_lone_surrogate_is_an_invalid_alert() -> None:
    broken = dataclasses.replace(event(), label="bag\udcff")
    with pytest.raises(InvalidAlertError, match="canonical JSON"):
        build_alert_payload("jetson-01", 1, broken, ZERO_HASH, KEY)


def test_the_outbox_refuses_that_event_alone_and_commits_the_others(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "jetson-01", KEY, config=OutboxConfig())
    try:
        # Given one caller's batch with an event of unencodable text, and another caller's good one
        failing = outbox.append_async([event(0), dataclasses.replace(event(1), rule="\ud800")])
        fine = outbox.append_async([event(2)])
        # Then only the first fails, by name, and uses no seq
        with pytest.raises(OutboxError, match="cannot encode alert"):
            failing.result(timeout=30)
        assert fine.result(timeout=30)[0].seq == 1
        assert outbox.last_seq == 1
    finally:
        outbox.close()
