"""The outbox's file as a whole (``outbox_file``): each case here opened as a new outbox, healthy, its
chain started again at seq 1 and every alert committed before gone, without a word; or, for a file
deleted while open, committed into a file that is gone once the gateway stops. Real SQLite files, as
a crash leaves them (copied while the outbox is open: its committed alerts in the write-ahead log)."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.delivery import outbox_file
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import KEY_FILE_NAME
from gateway.errors import OutboxError
from gateway.sqlite_open import open_wal_database
from tests.unit.delivery.test_outbox import event, open_outbox

FILES = ("outbox.db", "outbox.db-wal", "outbox.db-shm")


def crashed(tmp_path: Path) -> Path:
    """A state_dir as a SIGKILL or power loss leaves it: three alerts committed into the log."""
    live, copy = tmp_path / "live", tmp_path / "crashed"
    outbox = open_outbox(live)
    try:
        outbox.append_many([event(number) for number in range(3)])
        copy.mkdir()
        for name in FILES:
            shutil.copyfile(live / name, copy / name)
    finally:
        outbox.close()
    return copy


def test_an_outbox_left_by_a_crash_opens_with_its_alerts(tmp_path: Path) -> None:
    outbox = open_outbox(crashed(tmp_path))
    try:
        assert outbox.last_seq == 3
        assert not outbox.created
    finally:
        outbox.close()


def test_a_log_deleted_after_a_crash_is_refused(tmp_path: Path) -> None:
    state = crashed(tmp_path)
    (state / "outbox.db-wal").unlink()
    with pytest.raises(
        OutboxError, match=r"write-ahead log outbox\.db-wal is missing while outbox\.db-shm is there"
    ):
        open_outbox(state)
    assert sorted(os.listdir(state)) == ["outbox.db", "outbox.db-shm", "outbox.lock"]


def test_an_emptied_file_with_its_log_beside_it_is_refused_and_the_log_kept(tmp_path: Path) -> None:
    state = crashed(tmp_path)
    log = (state / "outbox.db-wal").read_bytes()
    (state / "outbox.db").write_bytes(b"")
    with pytest.raises(OutboxError, match="the file is empty"):
        open_outbox(state)
    assert (state / "outbox.db-wal").read_bytes() == log


def test_a_file_with_no_tables_is_refused(tmp_path: Path) -> None:
    # Given: a WAL database's header and nothing else, what a crash left before a log that was lost
    database = sqlite3.connect(tmp_path / "outbox.db")
    database.execute("PRAGMA journal_mode=WAL")
    database.close()
    with pytest.raises(OutboxError, match="it holds no tables, so whatever was committed to it is lost"):
        open_outbox(tmp_path)


def test_a_file_cut_to_one_byte_is_refused(tmp_path: Path) -> None:
    open_outbox(tmp_path).close()
    os.truncate(tmp_path / "outbox.db", 1)
    with pytest.raises(OutboxError, match="it holds no tables"):
        open_outbox(tmp_path)


def test_another_programs_database_is_refused_naming_its_tables(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "outbox.db") as database:
        for table in ("songs", "albums", "artists", "genres", "playlists", "plays", "moods"):
            database.execute(f"CREATE TABLE {table} (id INTEGER)")
    with pytest.raises(OutboxError) as caught:
        open_outbox(tmp_path)
    assert (
        "it is not an outbox (a SQLite file whose tables are albums, artists, genres, moods, playlists "
        "and 2 more)" in str(caught.value)
    )
    with sqlite3.connect(tmp_path / "outbox.db") as database:
        assert "alerts" not in {row[0] for row in database.execute("SELECT name FROM sqlite_master")}


def test_a_new_outbox_takes_its_name_only_once_made(tmp_path: Path) -> None:
    def crash(database: sqlite3.Connection) -> None:
        database.execute("CREATE TABLE alerts (seq INTEGER)")
        raise sqlite3.OperationalError("disk I/O error")

    def open_database(path: Path) -> sqlite3.Connection:
        return open_wal_database(path, synchronous="full", busy_timeout_s=1)

    with pytest.raises(OutboxError, match="cannot create: disk I/O error"):
        outbox_file.create(tmp_path / "outbox.db", open_database, crash)
    assert os.listdir(tmp_path) == []


def test_what_a_creation_left_is_cleared_and_the_outbox_made(tmp_path: Path) -> None:
    for name in ("outbox.db.new", "outbox.db.new-wal", "outbox.db.new-shm"):
        (tmp_path / name).write_bytes(b"left by a creation that did not finish")
    outbox = open_outbox(tmp_path)
    try:
        assert outbox.created
        assert outbox.append_many([event()])[0].seq == 1
    finally:
        outbox.close()
    assert sorted(os.listdir(tmp_path)) == ["outbox.db", "outbox.lock"]
    reopened = open_outbox(tmp_path)
    assert not reopened.created
    reopened.close()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("UPDATE chain_head SET seq = 'three'", 'its chain head is damaged (seq "three", hash '),
        (
            "UPDATE chain_head SET seq = 2",
            "its chain head (seq 2) is behind the newest alert it keeps (seq 3)",
        ),
        ("DELETE FROM chain_head", "its chain head is missing while it keeps alerts up to seq 3"),
    ],
)
def test_a_damaged_chain_head_is_refused(tmp_path: Path, change: str, said: str) -> None:
    outbox = open_outbox(tmp_path)
    outbox.append_many([event(number) for number in range(3)])
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as database:
        database.execute(change)
    with pytest.raises(OutboxError) as caught:
        open_outbox(tmp_path)
    assert said in str(caught.value)


def test_a_head_past_the_newest_alert_kept_is_the_chain_pruned(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    outbox.append_many([event(number) for number in range(3)])
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as database:
        database.execute("DELETE FROM alerts WHERE seq > 1")
    reopened = open_outbox(tmp_path)
    assert reopened.last_seq == 3
    reopened.close()


@pytest.mark.parametrize("replaced", [False, True])
def test_a_file_deleted_or_replaced_while_open_is_said(
    tmp_path: Path, replaced: bool, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = open_outbox(tmp_path)
    try:
        outbox.append_many([event()])
        assert outbox.file_problem() is None
        os.unlink(tmp_path / "outbox.db")
        if replaced:
            (tmp_path / "outbox.db").write_bytes(b"another file")
        with caplog.at_level(logging.ERROR, logger="gateway.delivery.outbox_file"):
            outbox.append_many([event(1)])
            logged = [record.getMessage() for record in caplog.records]  # by the commit, unasked
            problem = outbox.file_problem()
        what = "replaced by another file" if replaced else "deleted"
        assert logged == [problem]
        assert problem == (
            f"outbox {tmp_path / 'outbox.db'} was {what} while open: the alerts committed go on into the old "
            "file, which is gone when the gateway stops; stop it and restore the file from a backup"
        )
        assert [record.getMessage() for record in caplog.records] == [problem]
    finally:
        outbox.close()


def test_an_outbox_made_anew_beside_its_generated_key_is_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(f"device_id: box-7\nstate_dir: {tmp_path}\n")
    with caplog.at_level(logging.WARNING, logger="gateway.delivery.outbox"):
        Outbox.from_config(config).close()
        assert caplog.records == []  # a new device: its key and its outbox made together
        Outbox.from_config(config).close()
        assert caplog.records == []
        (tmp_path / "outbox.db").unlink()
        Outbox.from_config(config).close()
    assert (tmp_path / KEY_FILE_NAME).exists()
    assert [record.getMessage() for record in caplog.records] == [
        f"outbox {tmp_path / 'outbox.db'} was made anew, while the signing key generated with the one before "
        f"is still in {tmp_path / KEY_FILE_NAME}: if this device's alerts reached the audit side, it will "
        "reject seqs 1 on as duplicates of those (restore the outbox if it was lost)"
    ]


def test_an_outbox_name_linked_to_a_file_not_made_yet_is_made_where_the_link_points(tmp_path: Path) -> None:
    # The outbox put on another disk before the first start, by a link that points to nothing yet
    elsewhere = tmp_path / "other-disk"
    elsewhere.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    (state / "outbox.db").symlink_to(elsewhere / "outbox.db")
    outbox = open_outbox(state)
    try:
        assert outbox.append_many([event()])[0].seq == 1
    finally:
        outbox.close()
    assert (state / "outbox.db").is_symlink()
    assert sorted(os.listdir(elsewhere)) == ["outbox.db"]
    reopened = open_outbox(state)
    assert reopened.last_seq == 1
    reopened.close()


def test_a_log_left_without_its_file_is_refused_not_replayed_onto_a_new_one(tmp_path: Path) -> None:
    # Given: a crash's files, the outbox file then moved aside and its log left. A new outbox made
    # there opened with the old log replayed onto it: the old chain head over new tables
    state = crashed(tmp_path)
    (state / "outbox.db").rename(tmp_path / "moved-aside.db")
    with pytest.raises(
        OutboxError, match=r"it is missing while its write-ahead log .*outbox\.db-wal is there"
    ):
        open_outbox(state)
    assert not (state / "outbox.db").exists()


def test_a_log_lost_beside_a_linked_outbox_is_found_where_the_link_points(tmp_path: Path) -> None:
    # SQLite keeps the log and its shared memory beside the file a link points to
    state = crashed(tmp_path)
    elsewhere = tmp_path / "other-disk"
    elsewhere.mkdir()
    for name in FILES:
        (state / name).rename(elsewhere / name)
    (state / "outbox.db").symlink_to(elsewhere / "outbox.db")
    (elsewhere / "outbox.db-wal").unlink()
    with pytest.raises(OutboxError, match=r"its write-ahead log outbox\.db-wal is missing"):
        open_outbox(state)
