"""A write-ahead log that lost part of what its index recorded (``outbox_log``): SQLite replays it up
to the damage and keeps quiet about the rest; the gateway says so. Real SQLite files as a crash
leaves them, then cut or damaged as a copy stopped part way or a failing disk would."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.delivery.outbox_log import FRAME_HEADER_BYTES, LOG_HEADER_BYTES, shortfall
from tests.unit.delivery.test_outbox import open_outbox
from tests.unit.delivery.test_outbox_file import crashed

PAGE_BYTES = 4096
FRAME_BYTES = FRAME_HEADER_BYTES + PAGE_BYTES


def opened_saying(state: Path, caplog: pytest.LogCaptureFixture) -> tuple[int, list[str]]:
    """The last seq the outbox at ``state`` opens at, and the errors it logged opening."""
    with caplog.at_level(logging.ERROR, logger="gateway.delivery.outbox"):
        outbox = open_outbox(state)
        outbox.close()
    return outbox.last_seq, [record.getMessage() for record in caplog.records]


def test_a_whole_log_left_by_a_crash_is_said_nothing_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = crashed(tmp_path)
    assert shortfall(state / "outbox.db-wal", state / "outbox.db-shm") is None
    assert opened_saying(state, caplog) == (3, [])


def test_a_log_cut_short_is_said_with_what_it_holds_of_what_was_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = crashed(tmp_path)
    log = state / "outbox.db-wal"
    recorded = (log.stat().st_size - LOG_HEADER_BYTES) // FRAME_BYTES
    with log.open("r+b") as file:
        file.truncate(log.stat().st_size - FRAME_BYTES // 2)
    found = shortfall(log, state / "outbox.db-shm")
    assert found is not None
    assert (found.recorded, found.why) == (recorded, "it was cut short")
    assert 0 < found.held < recorded
    last_seq, errors = opened_saying(state, caplog)
    assert last_seq < 3
    assert errors == [
        f"outbox {state / 'outbox.db'}: its write-ahead log outbox.db-wal holds {found.held} of the "
        f"{recorded} frames outbox.db-shm recorded when the gateway last committed before stopping without "
        "closing it (a crash or power loss): it was cut short; the alerts committed in the rest are lost "
        "unless the state directory is restored from a backup (after a power loss, frames never fsync'd "
        "count too: delivery marks, or every commit under outbox.synchronous: normal)"
    ]


@pytest.mark.parametrize(
    ("where", "why"),
    [
        (LOG_HEADER_BYTES + 2 * FRAME_BYTES + FRAME_HEADER_BYTES + 100, "it is damaged part way"),
        (3, "its header is damaged"),
        (LOG_HEADER_BYTES + FRAME_BYTES + 9, "it was overwritten part way"),
    ],
    ids=["a-page", "the-header", "a-frame-salt"],
)
def test_a_log_damaged_is_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: int, why: str
) -> None:
    state = crashed(tmp_path)
    log = state / "outbox.db-wal"
    data = bytearray(log.read_bytes())
    data[where] ^= 0x10
    log.write_bytes(bytes(data))
    found = shortfall(log, state / "outbox.db-shm")
    assert found is not None
    assert found.why == why
    _, errors = opened_saying(state, caplog)
    assert len(errors) == 1
    assert f": {why}; " in errors[0]


def test_an_index_being_written_counts_for_nothing(tmp_path: Path) -> None:
    # Given an index whose two header copies differ (a crash while SQLite wrote it), over a cut log
    state = crashed(tmp_path)
    index, log = state / "outbox.db-shm", state / "outbox.db-wal"
    data = bytearray(index.read_bytes())
    data[16] ^= 0x01  # the first copy's frame count
    index.write_bytes(bytes(data))
    with log.open("r+b") as file:
        file.truncate(LOG_HEADER_BYTES)
    # Then it is not read as a record of what the log held
    assert shortfall(log, index) is None
