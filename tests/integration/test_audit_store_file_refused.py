"""``audit serve`` on a SQLite file that holds no audit store, as the fuzzing of the store's path found
them: an empty file, one cut to one byte, another program's SQLite file. SQLite opens each as a new
database, and ``audit serve`` made it a new, empty store without a word: the fleet's audit history
started over. Each is now refused at start with one line naming the file and what to do (exit 2),
and left as it was. A path where nothing is still becomes a new store: made under a temporary name
and given its name once complete, so that two instances starting together on it open one store,
neither finding the other's half-made file. The PostgreSQL analogue, a database holding another
program's tables and none of the store's, is refused too; an empty one still becomes a store."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

from gateway.audit import database_file
from gateway.audit.store import AuditStore
from gateway.commands.audit import EXIT_ERROR
from gateway.errors import AuditError
from tests.support.command import edge_gateway
from tests.support.postgres import PostgresServer

KEY = bytes(range(32))
ROOT = Path(__file__).resolve().parents[2]
OPENED_TOGETHER = 8


def serve(folder: Path, database: Path) -> tuple[int, str]:
    """``edge-gateway audit serve`` on the store at ``database``: its exit status and log. It stops
    at the store, before any broker is dialled (none listens at the config's address)."""
    keys = folder / "keys.yaml"
    keys.write_text(f"box-1: {KEY.hex()}\n")
    config = folder / "audit.yaml"
    config.write_text(
        f"mqtt: {{url: 'mqtt://127.0.0.1:1'}}\ndatabase: 'sqlite:///{database}'\nkeys_file: '{keys}'\n"
    )
    done = edge_gateway("audit", "serve", "--config", str(config), cwd=ROOT)
    return done.returncode, done.stderr


def another_programs_file(path: Path) -> None:
    with sqlite3.connect(path) as database:
        for table in ("songs", "albums", "artists", "genres", "playlists", "plays", "moods"):
            database.execute(f"CREATE TABLE {table} (id INTEGER)")
    database.close()


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "the file is empty (0 bytes; truncated?): restore it from a backup, or move it aside"),
        (b"x", "it holds no tables, so whatever was stored in it is lost"),
        (b"not a database, " * 256, "it is no SQLite database (file is not a database): restore it"),
        (
            None,
            "it is not an audit store (a SQLite file whose tables are albums, artists, genres, moods, "
            "playlists and 2 more): point database at the audit store's file, or move this file aside",
        ),
    ],
    ids=["empty", "one-byte", "not-sqlite", "another-program"],
)
def test_a_file_that_holds_no_store_is_refused_at_start_and_left_as_it_was(
    tmp_path: Path, content: bytes | None, said: str
) -> None:
    # Given a file at the store's path that holds no audit store
    store = tmp_path / "store" / "audit.db"
    store.parent.mkdir()
    if content is None:
        another_programs_file(store)
    else:
        store.write_bytes(content)
    before = store.read_bytes()

    # When audit serve starts on it, then it stops with one line naming the file and what to do
    status, log = serve(tmp_path, store)
    assert status == EXIT_ERROR
    (line,) = log.splitlines()
    assert f"audit: cannot open the audit database {store}: {said}" in line
    # And the file is as it was, with nothing beside it
    assert store.read_bytes() == before
    assert os.listdir(store.parent) == ["audit.db"]


def test_a_log_left_without_its_store_is_refused(tmp_path: Path) -> None:
    # Given a store's write-ahead log, its file gone
    store = tmp_path / "audit.db"
    log = tmp_path / "audit.db-wal"
    log.write_bytes(b"frames of the store that was here")

    # When the store is opened to serve, then it is refused, and nothing is made
    with pytest.raises(AuditError, match=r"it is missing while its write-ahead log .*audit\.db-wal is there"):
        AuditStore.open(f"sqlite:///{store}", {})
    assert os.listdir(tmp_path) == ["audit.db-wal"]


def test_a_new_store_opened_together_by_several_instances_is_one_store(tmp_path: Path) -> None:
    # Given a path where nothing is, opened to serve by several instances at the same time
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    start = threading.Barrier(OPENED_TOGETHER)
    opened: list[AuditStore] = []
    failures: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            opened.append(AuditStore.open(url, {"box-1": KEY}))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(OPENED_TOGETHER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in opened:
        store.close()

    # Then each opened it (none found the file another was making and refused it), and no file a
    # creation made under another name is left
    assert failures == []
    assert len(opened) == OPENED_TOGETHER
    assert os.listdir(tmp_path) == ["audit.db"]
    reader = AuditStore.open(url, {}, create=False)
    reader.close()


def test_a_store_another_instance_named_and_opened_meanwhile_is_used(tmp_path: Path) -> None:
    # Given one instance found nothing at the path, and another then named its store there and
    # opened it (its write-ahead log beside it)
    store = tmp_path / "audit.db"
    first = AuditStore.open(f"sqlite:///{store}", {"box-1": KEY})
    try:
        assert (tmp_path / "audit.db-wal").exists()
        # When the first goes on to make the store, then it takes the one there, refusing nothing
        database_file.create_store(store)
    finally:
        first.close()


def test_a_postgresql_database_of_another_program_is_refused(postgres: PostgresServer) -> None:
    # Given a database holding another program's tables, and an empty one
    foreign, empty = postgres.create_database(), postgres.create_database()
    with psycopg.connect(foreign, autocommit=True) as connection:
        connection.execute("CREATE TABLE songs (id INTEGER)")

    # When each is opened to serve, then the first is refused and keeps its tables alone
    with pytest.raises(AuditError) as raised:
        AuditStore.open(foreign, {})
    assert "it is not an audit store (a database whose tables are songs): point database at" in str(
        raised.value
    )
    with psycopg.connect(foreign, autocommit=True) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    assert tables == [("songs",)]
    # And the empty one becomes a store, its views and an extension's own tables no other program's
    with psycopg.connect(empty, autocommit=True) as connection:
        connection.execute("CREATE VIEW now_playing AS SELECT 1 AS id")
        connection.execute("CREATE EXTENSION hstore")
        connection.execute("CREATE TABLE spatial_ref_sys (srid INTEGER)")
        connection.execute("ALTER EXTENSION hstore ADD TABLE spatial_ref_sys")  # as PostGIS makes it
    AuditStore.open(empty, {}).close()
    reader = AuditStore.open(empty, {}, create=False)
    reader.close()
