"""Many connections opening one new SQLite database at once: none fails, all end in WAL mode.

Switching a new file to WAL can answer SQLITE_BUSY without waiting for the busy timeout (see
gateway/sqlite_open.py); before the retry, 8 processes opening one new file together failed in
about one round in ten, so the rounds below fail reliably without it.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.database import SqliteDatabase
from gateway.delivery.outbox import DATABASE_NAME, Outbox
from gateway.sqlite_open import open_wal_database

PROCESSES = 6
THREADS_PER_PROCESS = 2
ROUNDS = 40
KINDS = ("plain", "outbox", "audit")
BARRIER_TIMEOUT_S = 60.0


def database_file(root: Path, round_number: int, kind: str) -> Path:
    directory = root / f"round-{round_number}" / kind
    return directory / DATABASE_NAME if kind == "outbox" else directory / f"{kind}.db"


def open_and_close(root: Path, round_number: int, kind: str) -> None:
    path = database_file(root, round_number, kind)
    if kind == "plain":
        path.parent.mkdir(parents=True, exist_ok=True)
        open_wal_database(path, synchronous="full", busy_timeout_s=30.0).close()
    elif kind == "outbox":
        Outbox(path.parent, "box-1", bytes(32)).close()
    else:
        SqliteDatabase(path).close()


def participant(root: Path, barrier: Barrier, failures: list[str]) -> None:
    """Opens every round's databases in step with all the other participants."""
    for round_number in range(ROUNDS):
        for kind in KINDS:
            barrier.wait(BARRIER_TIMEOUT_S)
            try:
                open_and_close(root, round_number, kind)
            except Exception as exc:
                failures.append(f"round {round_number} {kind}: {exc!r}")


def run_process(root: Path, barrier: Barrier, results: Any) -> None:
    """Entry point of one child process: THREADS_PER_PROCESS participants; sends its failures back."""
    failures: list[str] = []
    threads = [
        threading.Thread(target=participant, args=(root, barrier, failures), name=f"opener-{index}")
        for index in range(THREADS_PER_PROCESS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(failures)


def test_many_processes_and_threads_open_one_new_database_at_once(tmp_path: Path) -> None:
    # Given 6 processes of 2 threads each, released together onto each new database file
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES * THREADS_PER_PROCESS)
    results = context.Queue()
    processes = [
        context.Process(target=run_process, args=(tmp_path, barrier, results), name=f"opener-process-{index}")
        for index in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        # When each opens the plain helper, an outbox and an audit store, round after round
        failures = [failure for _ in processes for failure in results.get(timeout=150)]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()

    # Then every open succeeded and every file is a WAL database
    assert failures == []
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    for round_number in range(ROUNDS):
        for kind in KINDS:
            with sqlite3.connect(database_file(tmp_path, round_number, kind)) as connection:
                assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_database_held_locked_fails_after_the_busy_timeout(tmp_path: Path) -> None:
    # Given a new file whose lock another connection holds
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        # When it is opened with a short busy timeout, then it fails (bounded), naming the lock
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            open_wal_database(path, synchronous="full", busy_timeout_s=0.2)
        assert 0.2 <= time.monotonic() - started < 2.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # And once the lock is gone the same open succeeds
    open_wal_database(path, synchronous="normal", busy_timeout_s=0.2).close()


def test_a_database_that_cannot_be_wal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError, match="journal mode is memory, not wal"):
        open_wal_database(Path(":memory:"), synchronous="full", busy_timeout_s=1.0)
