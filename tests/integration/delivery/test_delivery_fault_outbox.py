"""The outbox file under faults: each is refused at open with an OutboxError naming the file and the
problem, instead of a traceback, a collision loop, or a new chain the audit side would reject."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.config import OutboxConfig
from gateway.delivery import outbox as outbox_module
from gateway.delivery import outbox_schema
from gateway.delivery.outbox import DATABASE_NAME, Outbox
from gateway.errors import OutboxError
from tests.integration.delivery.publisher_process import DEVICE_ID, event

KEY = bytes(range(32))
ROOT = Path(__file__).resolve().parents[3]

HOLDER = """
import sys
from pathlib import Path
from gateway.delivery.outbox import Outbox
from tests.integration.delivery.publisher_process import DEVICE_ID, event
outbox = Outbox(Path(sys.argv[1]), DEVICE_ID, bytes(range(32)))
outbox.append_many([event(0)])
print("open", flush=True)
sys.stdin.read()
outbox.close()
"""


def committed(state_dir: Path, count: int) -> Path:
    outbox = Outbox(state_dir, DEVICE_ID, KEY)
    outbox.append_many([event(number) for number in range(count)])
    outbox.close()
    return state_dir / DATABASE_NAME


def test_an_outbox_from_a_newer_gateway_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    # Given an outbox whose schema a newer gateway wrote
    path = committed(tmp_path, 2)
    newer = outbox_schema.VERSION + 1
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {newer}")
    db.close()
    # When this gateway opens it, it refuses, naming the file and the version
    with pytest.raises(
        OutboxError, match=rf"outbox\.db: schema version {newer} was written by a newer edge-gateway"
    ):
        Outbox(tmp_path, DEVICE_ID, KEY)
    # Then the file is not stamped down to this gateway's version
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == newer
    db.close()


def test_a_zero_byte_outbox_is_refused_rather_than_starting_a_new_chain(tmp_path: Path) -> None:
    committed(tmp_path, 3)
    (tmp_path / DATABASE_NAME).write_bytes(b"")
    with pytest.raises(
        OutboxError, match=r"outbox\.db: cannot open: the file is empty \(0 bytes; truncated\?\)"
    ):
        Outbox(tmp_path, DEVICE_ID, KEY)
    assert (tmp_path / DATABASE_NAME).stat().st_size == 0


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda path: path.write_bytes(b"garbage" * 512), "file is not a database"),
        (lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]), "malformed"),
        (lambda path: (path.unlink(), path.mkdir()), "is a directory"),
    ],
    ids=["garbage", "truncated", "directory"],
)
def test_a_damaged_outbox_is_named_with_its_problem(tmp_path: Path, damage: object, problem: str) -> None:
    path = committed(tmp_path, 50)
    assert callable(damage)
    damage(path)
    with pytest.raises(OutboxError, match=rf"outbox {path}: .*{problem}"):
        Outbox(tmp_path, DEVICE_ID, KEY)


@pytest.mark.parametrize(
    ("replace", "kind"),
    [
        (os.mkfifo, "a FIFO"),
        (lambda path: path.symlink_to("/dev/null"), "a device"),
        (lambda path: path.symlink_to("/dev/zero"), "a device"),
    ],
    ids=["fifo", "dev-null", "dev-zero"],
)
def test_an_outbox_that_is_no_regular_file_is_named_for_what_it_is(
    tmp_path: Path, replace: Callable[[Path], object], kind: str
) -> None:
    # Given the outbox file replaced by a FIFO, or by a link to a device (no size, or none that counts)
    path = committed(tmp_path, 3)
    path.unlink()
    replace(path)
    # When the gateway opens it, then it is refused for what it is, not as an empty (truncated) file
    with pytest.raises(OutboxError, match=rf"outbox {path}: cannot open: it is {kind}, not a regular file"):
        Outbox(tmp_path, DEVICE_ID, KEY)


def test_a_wal_that_is_a_fifo_is_refused_with_sqlites_own_error(tmp_path: Path) -> None:
    # Given an outbox whose -wal (left by a SIGKILL) has been replaced by a FIFO
    path = committed(tmp_path, 3)
    wal = path.with_name(path.name + "-wal")
    wal.unlink(missing_ok=True)
    os.mkfifo(wal)
    # When the gateway opens it, then the error is the one SQLite met, not that of the ROLLBACK after
    # it ("cannot rollback - no transaction is active": SQLite had rolled back already)
    with pytest.raises(OutboxError, match=rf"outbox {path}: cannot open: disk I/O error$"):
        Outbox(tmp_path, DEVICE_ID, KEY)


def test_a_second_gateway_on_the_same_state_dir_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given another process holding the outbox open, one alert committed
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdin is not None
            assert holder.stdout.readline().strip() == "open"
            # (raising=False: the test must also run, and fail, against a gateway without the lock)
            monkeypatch.setattr(outbox_module, "LOCK_TIMEOUT_S", 0.2, raising=False)
            # When this process opens the same outbox, it is refused, naming the holder
            with pytest.raises(OutboxError, match=rf"in use by another gateway process \(pid {holder.pid}\)"):
                Outbox(tmp_path, DEVICE_ID, KEY)
            holder.stdin.close()
            assert holder.wait(20) == 0
        finally:
            holder.kill()
    # Then, once the holder has gone, the chain continues where it left it
    outbox = Outbox(tmp_path, DEVICE_ID, KEY)
    try:
        assert [alert.seq for alert in outbox.append_many([event(1)])] == [2]
    finally:
        outbox.close()


def test_a_symbolic_link_as_the_lock_file_is_refused_and_its_target_left_alone(tmp_path: Path) -> None:
    # Given the lock file's name a symbolic link to another file
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    target = tmp_path / "elsewhere.conf"
    target.write_text("important content\n", encoding="utf-8")
    lock = state_dir / "outbox.lock"
    lock.symlink_to(target)
    # When the outbox opens, it is refused, naming the link
    with pytest.raises(OutboxError, match=rf"its lock file {lock} is a symbolic link, not a regular file"):
        Outbox(state_dir, DEVICE_ID, KEY)
    # Then the file it points to keeps its content, and no outbox was made
    assert target.read_text(encoding="utf-8") == "important content\n"
    assert not (state_dir / DATABASE_NAME).exists()


def test_a_fifo_as_the_lock_file_is_refused(tmp_path: Path) -> None:
    # Given a FIFO where the lock file should be
    lock = tmp_path / "outbox.lock"
    os.mkfifo(lock)
    # When the outbox opens, it is refused, naming what the lock file is
    with pytest.raises(OutboxError, match=rf"its lock file {lock} is a FIFO, not a regular file"):
        Outbox(tmp_path, DEVICE_ID, KEY)


def test_a_changed_signing_key_is_said_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a chain of three alerts signed with KEY
    committed(tmp_path, 3)
    # When the gateway starts with the same key, nothing is said
    Outbox(tmp_path, DEVICE_ID, KEY).close()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    # When it starts with another key (a regenerated or replaced key file), it says so, naming the seqs
    Outbox(tmp_path, DEVICE_ID, bytes(32)).close()
    said = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(said) == 1, said
    assert "not the one that signed seq 3" in said[0]
    assert "from seq 4 on are signed with a different key" in said[0]


def test_an_outbox_over_max_bytes_with_nothing_delivered_keeps_everything_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a broker that has taken nothing, and an outbox sized for less than what is committed
    config = OutboxConfig(max_bytes=2_000)
    # A clock short of PRUNE_INTERVAL_S keeps the writer from pruning on its own: only the calls below do.
    outbox = Outbox(tmp_path, DEVICE_ID, KEY, config=config, clock=lambda: 30.0, monotonic=lambda: 30.0)
    try:
        outbox.append_many([event(number) for number in range(10)])
        # When retention runs (twice: the warning is said once per crossing)
        assert outbox.prune() == 0
        assert outbox.prune() == 0
        # Then nothing is pruned, and the overrun is said once
        assert outbox.stats().stored == 10
        said = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
        over = [line for line in said if "over outbox.max_bytes (2000)" in line]
        assert len(over) == 1, said
        assert "undelivered alerts and images, which are never pruned" in over[0]
    finally:
        outbox.close()
