"""``audit verify --db`` pointed at a database that holds no audit store (a mistyped PostgreSQL
database name, the gateway's own outbox file) printed "no alerts stored", "OK" and exited 0, and
created the audit tables in that database on its way. It now says there is no audit store there and
exits 2, leaving the database as it was. On a real PostgreSQL server and a SQLite file."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import psycopg
import pytest

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.commands.audit import EXIT_ERROR, run_verify
from tests.support.audit_device import AlertChain
from tests.support.postgres import PostgresServer

KEY = bytes(range(32))


def verify(url: str) -> int:
    return run_verify(argparse.Namespace(db=url, keys=None, topic_prefix="edge"))


def test_a_sqlite_file_without_an_audit_store_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a SQLite file that is some other database
    path = tmp_path / "outbox.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, payload BLOB)")

    # When it is verified, then it is an error naming the problem, and the file is left as it was
    assert verify(f"sqlite:///{path}") == EXIT_ERROR
    assert f"error: no audit store in {path}: it has no audit_alerts table" in capsys.readouterr().err
    with sqlite3.connect(path) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [("outbox",)]


def test_a_postgresql_database_without_an_audit_store_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with PostgresServer() as postgres:
        # Given an empty PostgreSQL database, and one holding a store
        empty = postgres.create_database()
        filled = postgres.create_database()
        chain = AlertChain("box-1", KEY)
        chain.extend(2)
        store = AuditStore.open(filled, {"box-1": KEY})
        store.ingest([ReceivedMessage(chain.topic, payload, 1.0) for payload in chain.payloads])
        store.close()

        # Then the empty one is an error and stays empty, and the store still verifies
        assert verify(empty) == EXIT_ERROR
        assert "it has no audit_alerts table" in capsys.readouterr().err
        with psycopg.connect(empty, autocommit=True) as connection:
            tables = connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
        assert tables == []
        assert verify(filled) == 0
        assert capsys.readouterr().out.endswith("OK\n")
