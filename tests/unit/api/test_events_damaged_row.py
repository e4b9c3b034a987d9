"""An alert row the disk damaged leaves the rest of the event log readable: ``GET /v1/events`` lists
every other alert (the damaged one logged by seq), and ``GET /v1/events/{seq}`` of the damaged one
names its seq and the damage. Real HTTP, a real outbox, the row damaged in SQLite itself."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from tests.unit.api.conftest import ApiFactory
from tests.unit.delivery.test_outbox import Clock, event, open_outbox


def test_a_damaged_row_is_left_out_and_named(
    make_api: ApiFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = open_outbox(tmp_path, Clock())
    try:
        outbox.append_many([event(number) for number in range(3)])
        # Given the payload of seq 2 damaged on disk
        with sqlite3.connect(tmp_path / "outbox.db") as db:
            db.execute("UPDATE alerts SET payload = ? WHERE seq = 2", (b"\x00damaged",))
        db.close()
        api = make_api(events=outbox)
        # When the event list is read, then the others are listed and the damaged one is logged
        with caplog.at_level(logging.ERROR, logger="gateway.delivery.outbox_reads"):
            listed = api.get("/v1/events")
        assert listed.status == 200
        assert [alert["seq"] for alert in listed.json()["events"]] == [3, 1]
        assert "alert seq 2 is stored damaged" in caplog.text
        # And the damaged alert itself is an error that names it
        single = api.get("/v1/events/2")
        assert "alert seq 2 is stored damaged" in single.json()["error"]
        assert api.get("/v1/events/3").status == 200
    finally:
        outbox.close()
