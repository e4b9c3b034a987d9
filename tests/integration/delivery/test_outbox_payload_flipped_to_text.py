"""One bit flipped in the outbox file, the low bit of a payload's type in its record's header, makes
SQLite read that alert back as TEXT of the same bytes instead of the BLOB committed. The gateway
took the value for bytes and failed: at start (the signing key's check of the newest alert, the open
events), and on ``GET /v1/events`` with a 500. Such a row is damaged like any other now: named in
the log and left out of what the gateway reads, while the publisher still sends the bytes the file
holds, as it sends any damaged row (the audit side checks it)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.delivery.outbox import DATABASE_NAME, Outbox
from gateway.errors import OutboxError
from tests.integration.delivery.publisher_process import DEVICE_ID, event
from tests.support.flipped_bit import flip_type_bit

KEY = bytes(range(32))


def committed(state_dir: Path, count: int) -> list[bytes]:
    """``count`` alerts committed and the outbox closed (its -wal checkpointed); their payloads."""
    outbox = Outbox(state_dir, DEVICE_ID, KEY)
    try:
        outbox.append_many([event(number) for number in range(count)])
        return [stored.payload for stored in outbox.pending()]
    finally:
        outbox.close()


def flip_payload_to_text(state_dir: Path, table: str, seq: int) -> None:
    flip_type_bit(
        state_dir / DATABASE_NAME, f"UPDATE {table} SET payload = CAST(payload AS TEXT) WHERE seq = {seq}"
    )


def test_the_newest_alert_flipped_to_text_is_said_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given three alerts committed, the newest one's payload flipped to TEXT
    committed(tmp_path, 3)
    flip_payload_to_text(tmp_path, "alerts", 3)

    # When the gateway opens the outbox, then it opens, saying why the key could not be checked
    with caplog.at_level(logging.WARNING, logger="gateway.delivery.outbox_checks"):
        outbox = Outbox(tmp_path, DEVICE_ID, KEY)
    try:
        assert "cannot check the signing key against the newest alert: stored as TEXT, not a BLOB" in (
            caplog.text
        )
        # And the chain goes on after it
        assert [alert.seq for alert in outbox.append_many([event(3)])] == [4]
    finally:
        outbox.close()


def test_an_older_alert_flipped_to_text_is_left_out_of_the_list_and_still_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given three alerts committed, the payload of seq 2 flipped to TEXT
    payloads = committed(tmp_path, 3)
    flip_payload_to_text(tmp_path, "alerts", 2)
    outbox = Outbox(tmp_path, DEVICE_ID, KEY)
    try:
        # When the event log is read, then the others are listed and seq 2 is named damaged
        with caplog.at_level(logging.ERROR, logger="gateway.delivery.outbox_reads"):
            assert [alert.seq for alert in outbox.recent_alerts(10)] == [3, 1]
        assert (
            "alert seq 2 is stored damaged, left out of the list: stored as TEXT, not a BLOB" in caplog.text
        )
        # And seq 2 itself is an error naming it
        with pytest.raises(OutboxError, match="alert seq 2 is stored damaged: stored as TEXT, not a BLOB"):
            outbox.alert(2)
        # And what is sent and replayed are the bytes the file holds, which are the ones committed
        assert [stored.payload for stored in outbox.pending()] == payloads
        assert [stored.payload for stored in outbox.replay(2, 2)] == payloads[1:2]
    finally:
        outbox.close()


def test_an_open_event_flipped_to_text_is_read_from_its_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two events started and open, the open events' row of the second flipped to TEXT
    committed(tmp_path, 2)
    flip_payload_to_text(tmp_path, "open_events", 2)

    # When the gateway starts and reads its open events to end them, then both are there
    outbox = Outbox(tmp_path, DEVICE_ID, KEY)
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.delivery.outbox_reads"):
            assert [opened.event_id for opened in outbox.open_events()] == [
                "gate:intrusion:0",
                "gate:intrusion:1",
            ]
        assert "open event gate:intrusion:1 is stored damaged (stored as TEXT, not a BLOB)" in caplog.text
    finally:
        outbox.close()
