"""``audit verify`` changes nothing of what it verifies, on SQLite and on a real PostgreSQL.

It opened the store as ``audit serve`` does, which migrates it: verifying a store an older release
wrote moved it to this release's schema (new tables, columns, counts backfilled) before checking a
single alert. It now reads the store as it is, on a read-only connection: an older store it can
read is verified in place and left at its version; one too old to read (version 1, before evidence
images) is refused with exit 2, naming its version and the command that migrates it.

A SQLite store in a folder the verifier may only read (an auditor's account, the service's folder)
could not be verified at all: SQLite makes the store's shared-memory file at the first read ("attempt
to write a readonly database"). A store closed cleanly is now read as an immutable file; one that
``audit serve`` has open is read with the shared-memory file the service made, its log and all.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import pytest

from gateway.audit import schema
from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.commands.audit import EXIT_ERROR, run_verify
from gateway.errors import AuditError
from tests.integration.test_audit_schema_versions import execute_sql
from tests.support.audit_device import AlertChain
from tests.support.child_limits import held_to_file_modes
from tests.support.command import edge_gateway

KEY = bytes(range(32))
DEVICE = "box-1"
ROOT = Path(__file__).resolve().parents[2]


def verify(url: str, keys_file: Path | None = None) -> int:
    return run_verify(argparse.Namespace(db=url, keys=keys_file, topic_prefix="edge"))


def filled(url: str) -> AlertChain:
    chain = AlertChain(DEVICE, KEY)
    chain.extend(3)
    store = AuditStore.open(url, {DEVICE: KEY})
    try:
        store.ingest([ReceivedMessage(chain.topic, payload, 1_780_000_001.0) for payload in chain.payloads])
    finally:
        store.close()
    return chain


def tables(url: str) -> set[str]:
    if url.startswith("sqlite:///"):
        rows = execute_sql(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = execute_sql(
            url, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return {str(row[0]) for row in rows} - {"sqlite_sequence"}


def columns(url: str) -> set[str]:
    if url.startswith("sqlite:///"):
        rows = execute_sql(url, "SELECT name FROM pragma_table_info('audit_devices')")
    else:
        rows = execute_sql(
            url,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'audit_devices'",
        )
    return {str(row[0]) for row in rows}


def test_an_older_store_is_verified_as_it_is(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a store as the version 3 release left it: no clock offsets, no dropped rejections
    filled(database_url)
    execute_sql(database_url, "DROP TABLE IF EXISTS audit_rejected_dropped")
    execute_sql(database_url, "ALTER TABLE audit_devices DROP COLUMN clock_offset_s")
    execute_sql(database_url, "UPDATE audit_schema SET version = 3")
    before = (tables(database_url), columns(database_url))
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"{DEVICE}: {KEY.hex()}\n")

    # When it is verified, then it verifies, and is still at version 3 with what it had
    assert verify(database_url, keys_file) == 0
    assert capsys.readouterr().out.endswith(f"{DEVICE}: 3 alerts, seq 1..3, signatures checked: ok\nOK\n")
    assert execute_sql(database_url, "SELECT version FROM audit_schema") == [(3,)]
    assert (tables(database_url), columns(database_url)) == before


def test_a_store_of_version_1_is_refused_naming_its_version_and_the_migration(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a store as the first release left it: its tables, no schema version, one alert
    sqlite = database_url.startswith("sqlite:")
    blob, serial = (
        ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT") if sqlite else ("BYTEA", "BIGSERIAL PRIMARY KEY")
    )
    for statement in schema._VERSION_1:  # the first release's tables, exactly
        execute_sql(database_url, statement.format(blob=blob, serial=serial))
    execute_sql(database_url, "DROP TABLE audit_schema")
    chain = AlertChain(DEVICE, KEY)
    chain.extend(1, schema_version=1)
    fields = (DEVICE, 1, chain.payload(1), 1_780_000_001.0)
    execute_sql(
        database_url,
        "INSERT INTO audit_alerts (device_id, seq, hash, prev_hash, payload, received_at) "
        "VALUES (?, ?, 'h', 'p', ?, ?)",
        (fields[0], fields[1], fields[2], fields[3]),
    )
    before = tables(database_url)

    # When it is verified, then it is refused with what to do, and left as it was
    assert verify(database_url) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "is at schema version 1, older than version 2" in error
    assert "`edge-gateway audit serve`" in error
    assert tables(database_url) == before == {"audit_alerts", "audit_rejected", "audit_devices"}


def test_a_current_store_is_not_written(database_url: str) -> None:
    # Given a store of this release, closed
    filled(database_url)
    path = Path(database_url.removeprefix("sqlite:///"))
    before = hashlib.sha256(path.read_bytes()).hexdigest() if database_url.startswith("sqlite:") else None

    # When it is verified, then a SQLite file is byte for byte what it was
    assert verify(database_url) == 0
    if before is not None:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before

    # And the verifier's connection refuses a write, whatever asks for one
    reader = AuditStore.open(database_url, {DEVICE: KEY}, create=False)
    try:
        with pytest.raises(AuditError, match=r"read-only|readonly"):
            reader.ingest([ReceivedMessage(f"edge/{DEVICE}/alerts", b"{}", 1.0)])
    finally:
        reader.close()
    assert execute_sql(database_url, "SELECT COUNT(*) FROM audit_rejected") == [(0,)]


def verify_in_read_only_folder(folder: Path) -> tuple[int, str, str]:
    """``edge-gateway audit verify`` on ``folder``'s store, by a user who may read the folder but not
    write it: exit status, stdout, stderr."""
    folder.chmod(0o555)
    try:
        done = edge_gateway(
            "audit",
            "verify",
            "--db",
            f"sqlite:///{folder / 'audit.db'}",
            cwd=ROOT,
            prefix=held_to_file_modes(),
        )
    finally:
        folder.chmod(0o755)
    return done.returncode, done.stdout, done.stderr


def test_a_closed_store_in_a_folder_the_verifier_may_only_read_is_verified(tmp_path: Path) -> None:
    # Given a store closed cleanly (no log, no shared-memory file) in a folder of mode 555
    folder = tmp_path / "store"
    folder.mkdir()
    filled(f"sqlite:///{folder / 'audit.db'}")
    before = sorted(os.listdir(folder))

    # When a user the mode holds for verifies it, then it is verified, and nothing is made there
    status, out, err = verify_in_read_only_folder(folder)
    assert (status, err) == (0, "")
    assert f"{DEVICE}: 3 alerts, seq 1..3, signatures NOT checked: ok" in out
    assert out.endswith("OK\n")
    assert sorted(os.listdir(folder)) == before == ["audit.db"]


def test_a_live_store_in_a_folder_the_verifier_may_only_read_is_verified_with_its_log(
    tmp_path: Path,
) -> None:
    # Given a store that a writer has open, its alerts committed into its log, not yet the file
    folder = tmp_path / "store"
    folder.mkdir()
    url = f"sqlite:///{folder / 'audit.db'}"
    writer = AuditStore.open(url, {DEVICE: KEY})
    try:
        chain = AlertChain(DEVICE, KEY)
        chain.extend(3)
        writer.ingest([ReceivedMessage(chain.topic, payload, 1.0) for payload in chain.payloads])
        assert (folder / "audit.db-wal").stat().st_size > 0

        # When a user who may only read the folder verifies it, then every committed alert is read
        status, out, err = verify_in_read_only_folder(folder)
    finally:
        writer.close()
    assert (status, err) == (0, "")
    assert f"{DEVICE}: 3 alerts, seq 1..3, signatures NOT checked: ok" in out
