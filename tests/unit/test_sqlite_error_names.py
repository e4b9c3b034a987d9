"""SQLite's name for an error, which the audit store's checks go by: from Python (3.11 on), or from
SQLite's message where Python gives none (3.10, the Jetson's)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.sqlite_types import error_name


def test_a_name_python_gives_is_taken(tmp_path: Path) -> None:
    not_a_database = tmp_path / "songs.txt"
    not_a_database.write_bytes(b"not a database, long enough to hold a header of one" * 4)
    connection = sqlite3.connect(not_a_database)
    with pytest.raises(sqlite3.DatabaseError) as raised:
        connection.execute("SELECT 1 FROM sqlite_master").fetchall()
    connection.close()
    assert error_name(raised.value) == "SQLITE_NOTADB"


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ("file is not a database", "SQLITE_NOTADB"),
        ("unable to open database file", "SQLITE_CANTOPEN"),
        ("attempt to write a readonly database", "SQLITE_READONLY"),
        ("no such table: alerts", None),
    ],
)
def test_without_a_name_from_python_the_message_tells_it(message: str, name: str | None) -> None:
    # As Python 3.10 raises them: the message alone
    assert error_name(sqlite3.OperationalError(message)) == name
