"""An alert row the disk damaged leaves the rest of the event log readable: ``GET /v1/events`` lists
every other alert (the damaged one logged by seq), and ``GET /v1/events/{seq}`` of the damaged one
names its seq and the damage. So does an alert whose bytes changed on disk while it stays valid JSON:
it was served as genuine, while the audit side rejected it. Real HTTP, a real outbox, the row damaged
in SQLite itself."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.api.conftest import ApiFactory
from tests.unit.delivery.test_outbox import Clock, event, open_outbox


def garbage(_payload: bytes) -> bytes:
    """No alert at all: what a disk fault leaves."""
    return b"\x00damaged"


def changed_label(payload: bytes) -> bytes:
    """A field the hash covers changed by one byte: still valid JSON, a well-formed alert, not the one
    signed."""
    changed = payload.replace(b'"label":"person"', b'"label":"persoN"', 1)
    assert json.loads(changed)["label"] == "persoN"
    return changed


def changed_hash(payload: bytes) -> bytes:
    """The stored hash itself changed in its first digit: the content is the one signed, its hash not."""
    at = payload.index(b'"hash":"') + len(b'"hash":"')
    digit = b"1" if payload[at : at + 1] == b"0" else b"0"
    changed = payload[:at] + digit + payload[at + 1 :]
    assert json.loads(changed)["hash"] != json.loads(payload)["hash"]
    return changed


@pytest.mark.parametrize(
    ("change", "detail"),
    [(garbage, ""), (changed_label, "hash: does not match"), (changed_hash, "hash: does not match")],
    ids=["garbage", "label", "hash"],
)
def test_a_damaged_row_is_left_out_and_named(
    make_api: ApiFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    change: Callable[[bytes], bytes],
    detail: str,
) -> None:
    outbox = open_outbox(tmp_path, Clock())
    try:
        outbox.append_many([event(number) for number in range(3)])
        # Given the payload of seq 2 damaged on disk
        with sqlite3.connect(tmp_path / "outbox.db") as db:
            (payload,) = db.execute("SELECT payload FROM alerts WHERE seq = 2").fetchone()
            db.execute("UPDATE alerts SET payload = ? WHERE seq = 2", (change(payload),))
        db.close()
        api = make_api(events=outbox)
        # When a page of the largest limit is read, then the others are listed and the damaged one is
        # logged
        with caplog.at_level(logging.ERROR, logger="gateway.delivery.outbox_reads"):
            listed = api.get("/v1/events?limit=1000")
        assert listed.status == 200
        assert [alert["seq"] for alert in listed.json()["events"]] == [3, 1]
        assert f"alert seq 2 is stored damaged, left out of the list: {detail}" in caplog.text
        # And the damaged alert itself is an error that names it, never served as the signed one
        single = api.get("/v1/events/2")
        assert single.status == 503
        assert f"alert seq 2 is stored damaged: {detail}" in single.json()["error"]
        assert api.get("/v1/events/3").status == 200
    finally:
        outbox.close()
