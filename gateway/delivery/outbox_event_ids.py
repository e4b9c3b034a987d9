"""How far the event and track ids the outbox committed reached, per camera: the seed a restarted
decider continues its ids from (its clock may be behind the previous run's: fake-hwclock after a
power loss), so that no event id or track id is given again.

The table ``event_ids`` (schema version 3, ``outbox_schema``) holds, per camera, the newest capture
time (ms) in one of its event ids, the highest ``~`` mark in one, and the highest track id in one
of its events. It is written in the transaction of the alerts it covers, so after a power loss it
covers exactly the alerts committed, and retention never prunes it: a camera whose alerts were all
pruned keeps its seed. One row per camera id ever committed. An outbox from before version 3 is
migrated from the alerts it still stores (``backfill``), once.

Event ids are ``{camera}:{rule}:{track}{capture ms}`` with an optional ``~{mark}`` (alert v2
``event_id``, made by ``gateway.rules.event_ids``). An id of another form (an older gateway's) says
nothing about capture times or marks; numbers too large for an SQLite integer (a hand-edited file)
are passed over too, so no alert commit can fail over them.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.printable import printable

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS event_ids (
    camera_id TEXT PRIMARY KEY,
    newest_ms INTEGER NOT NULL,
    marks INTEGER NOT NULL,
    newest_track INTEGER NOT NULL
)
"""

_UPSERT = (
    "INSERT INTO event_ids (camera_id, newest_ms, marks, newest_track) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (camera_id) DO UPDATE SET newest_ms = MAX(newest_ms, excluded.newest_ms), "
    "marks = MAX(marks, excluded.marks), newest_track = MAX(newest_track, excluded.newest_track)"
)

_CAPTURE_MARK = re.compile(r":(\d{1,18})(?:~(\d{1,18}))?$")
"""An event id's capture time in ms and its ``~`` mark; 18 digits fit an SQLite integer."""
_LARGEST = 2**63 - 1
"""The largest SQLite integer."""


@dataclass(frozen=True, slots=True)
class IdsCommitted:
    """How far one camera's committed ids reached (``gateway.rules.event_ids.IdsGiven``)."""

    newest_ms: int
    """The newest capture time (ms) in one of its event ids (-1: no id of the known form)."""
    marks: int
    """The highest ``~`` mark in one of its event ids (0: none)."""
    newest_track: int
    """The highest track id in one of its events (0: none)."""


def covering(events: Iterable[tuple[str, str, int | None]]) -> dict[str, IdsCommitted]:
    """Per camera, how far the ids of ``events`` (camera id, event id, track id) reach."""
    reached: dict[str, IdsCommitted] = {}
    for camera_id, event_id, track_id in events:
        found = _CAPTURE_MARK.search(event_id)
        track = track_id if track_id is not None and 0 < track_id <= _LARGEST else 0
        if found is None and track == 0:
            continue
        ms = -1 if found is None else int(found[1])
        mark = 0 if found is None else int(found[2] or 0)
        before = reached.get(camera_id)
        if before is not None:
            ms, mark, track = (
                max(ms, before.newest_ms),
                max(mark, before.marks),
                max(track, before.newest_track),
            )
        reached[camera_id] = IdsCommitted(ms, mark, track)
    return reached


def record(db: sqlite3.Connection, events: Iterable[tuple[str, str, int | None]]) -> None:
    """Raise the cameras' rows to cover ``events`` (inside the caller's transaction)."""
    db.executemany(
        _UPSERT,
        [
            (camera_id, ids.newest_ms, ids.marks, ids.newest_track)
            for camera_id, ids in covering(events).items()
        ],
    )


def read(db: sqlite3.Connection) -> dict[str, IdsCommitted]:
    """Every camera's row; a row the disk (or a hand) damaged is logged and passed over: it must not
    keep the gateway from starting."""
    reached: dict[str, IdsCommitted] = {}
    for camera_id, *numbers in db.execute(
        "SELECT camera_id, newest_ms, marks, newest_track FROM event_ids"
    ).fetchall():
        if not all(type(number) is int for number in numbers):
            logger.error(
                "outbox: the event ids committed for camera %s are stored damaged (%s): passed over, "
                "so its ids may repeat earlier ones if the clock is behind theirs",
                printable(str(camera_id)),
                printable(repr(numbers)),
            )
            continue
        newest_ms, marks, newest_track = numbers
        reached[str(camera_id)] = IdsCommitted(newest_ms, marks, newest_track)
    return reached


def backfill(db: sqlite3.Connection) -> None:
    """Cover the alerts an outbox from before version 3 still stores (inside the migration's
    transaction). Each distinct id is read once; a payload the disk damaged is passed over: it
    must not keep the gateway from starting."""
    rows: Sequence[tuple[object, object, object]] = db.execute(
        "SELECT DISTINCT camera_id, json_extract(payload, '$.event_id'), json_extract(payload, '$.track_id') "
        "FROM (SELECT camera_id, CAST(payload AS TEXT) AS payload FROM alerts) WHERE json_valid(payload)"
    ).fetchall()
    record(
        db,
        (
            (str(camera_id), event_id, track_id if isinstance(track_id, int) else None)
            for camera_id, event_id, track_id in rows
            if isinstance(event_id, str)
        ),
    )
