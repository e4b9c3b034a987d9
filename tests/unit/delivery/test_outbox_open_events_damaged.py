"""An open event's row the disk damaged does not keep the gateway from starting: at start the decider
reads the open events to end them ``recovered``, and one undecodable row raised out of it, so the
service never came up. The event is read from its alert in ``alerts`` instead; one that neither table
holds whole is named in the log and left out."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from tests.unit.delivery.test_outbox import Clock, event, open_outbox


def _damage(path: Path, table: str, seq: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"UPDATE {table} SET payload = ? WHERE seq = ?", (b"\x00damaged", seq))
    db.close()


def test_a_damaged_open_event_is_read_from_its_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = open_outbox(tmp_path, Clock())
    try:
        outbox.append_many([event(0), event(1)])
        expected = outbox.open_events()
        _damage(tmp_path / "outbox.db", "open_events", 1)
        with caplog.at_level(logging.WARNING, logger="gateway.delivery.outbox_reads"):
            assert outbox.open_events() == expected
        assert "open event gate:intrusion:0 is stored damaged" in caplog.text
    finally:
        outbox.close()


def test_an_open_event_damaged_in_both_tables_is_named_and_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = open_outbox(tmp_path, Clock())
    try:
        outbox.append_many([event(0), event(1)])
        _damage(tmp_path / "outbox.db", "open_events", 1)
        _damage(tmp_path / "outbox.db", "alerts", 1)
        with caplog.at_level(logging.ERROR, logger="gateway.delivery.outbox_reads"):
            assert [opened.event_id for opened in outbox.open_events()] == ["gate:intrusion:1"]
        assert "open event gate:intrusion:0 (alert seq 1) is stored damaged" in caplog.text
        assert "it cannot be ended" in caplog.text
    finally:
        outbox.close()
