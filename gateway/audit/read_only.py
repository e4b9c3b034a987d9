"""What a store opened read-only (``create=False``: ``audit verify``) must be before it is read.

Opened so, a store is read as it is: the connection is read-only (SQLite's ``mode=ro``,
PostgreSQL's ``default_transaction_read_only``), nothing is created or migrated, and a store older
than ``READABLE_VERSION`` is refused with the command that migrates it. Verifying a store used to
migrate it first: a verification changed what it verified. Both backends of
``gateway.audit.database`` check what they opened with ``readable_version``.

A SQLite store in WAL mode is read with its shared-memory file (``-shm``), which a reader makes when
it is not there: in a folder the verifier may only read, a store closed cleanly (no ``-wal``, no
``-shm``) could not be opened ("attempt to write a readonly database"). ``open_sqlite`` then opens
it ``immutable=1``, as SQLite documents for a file nothing else writes: nothing had it open (no log,
nothing in it not already in the file), and a writer that opens it meanwhile commits into its own
log, which the reader does not see, so what is read is the store as it was when opened. Only a
checkpoint copying such a log into the file while it is read could tear the read, and it changes
the file: ``FileSnapshot.changed`` tells, and the store closing refuses the reading as a whole. A log
without its shared-memory file cannot be read so (``immutable`` ignores the log, and its alerts), and
is refused naming what to do. Where the shared-memory file is there (``audit serve`` has the store
open), SQLite reads it as it is, with its locks, and sees every committed alert.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.audit import schema
from gateway.audit.schema import STORE_TABLE
from gateway.errors import AuditError
from gateway.sqlite_file import beside
from gateway.sqlite_types import error_name

__all__ = ["READABLE_VERSION", "STORE_TABLE", "FileSnapshot", "open_sqlite", "readable_version"]

READABLE_VERSION = 2
"""The oldest store a read-only connection reads: ``audit verify`` needs the evidence table."""
_FOLDER_READ_ONLY = ("SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY")
"""What refusing a read-only open the shared-memory file it would make in the folder is named: its
extended name, and the primary one, which is all Python 3.10 can tell from the message."""


def readable_version(
    execute: Callable[[str, Sequence[object]], list[tuple[Any, ...]]],
    where: str,
    *,
    sqlite: bool,
    close: Callable[[], None],
) -> int:
    """The version of the store at ``where``, read without changing it; AuditError (``close``
    called) when there is none or it is too old to read as it is."""
    found = schema.layout(execute, sqlite=sqlite)
    problem = None
    if not execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        if sqlite
        else "SELECT 1 WHERE to_regclass(?) IS NOT NULL",
        (STORE_TABLE,),
    ):
        problem = f"no audit store in {where}: it has no {STORE_TABLE} table"
    elif found < READABLE_VERSION:
        problem = (
            f"the audit store in {where} is at schema version {found}, "
            f"older than version {READABLE_VERSION}, the oldest this release verifies without "
            "changing it: migrate it first by running `edge-gateway audit serve` on it (a config whose "
            f"database is this store; it migrates to version {schema.VERSION} on start), then verify"
        )
    if problem is not None:
        close()
        raise AuditError(problem)
    return found


@dataclass(frozen=True, slots=True)
class FileSnapshot:
    """A SQLite store read ``immutable=1``: what its file was when opened, to tell a change since."""

    path: Path
    identity: tuple[int, int, int, int]

    @classmethod
    def take(cls, path: Path) -> FileSnapshot:
        return cls(path, _identity(path))

    def changed(self) -> bool:
        """Whether the file was written (a checkpoint of a writer that opened it since) or replaced."""
        try:
            return _identity(self.path) != self.identity
        except OSError:
            return True


def _identity(path: Path) -> tuple[int, int, int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def open_sqlite(path: Path, timeout_s: float) -> tuple[sqlite3.Connection, FileSnapshot | None]:
    """A read-only connection to the SQLite store at ``path`` (autocommit, any thread), and the
    snapshot to check when it closes if it had to be opened ``immutable=1`` (None: it was not)."""
    connection = _connect(path, "mode=ro", timeout_s)
    try:
        # SQLite opens the file lazily: the shared-memory file is needed at the first read.
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return connection, None
    except sqlite3.OperationalError as exc:
        connection.close()
        log, shared = beside(path, "-wal"), beside(path, "-shm")
        reason = error_name(exc)
        if reason == "SQLITE_CANTOPEN" and os.path.lexists(log) and not os.path.lexists(shared):
            raise sqlite3.OperationalError(
                f"its write-ahead log {log.name} is there without its shared-memory file {shared.name}, "
                f"which SQLite needs to read the log and this user may not create in {log.parent}: verify "
                "as a user who may write that folder (audit serve's), or while audit serve has it open"
            ) from None
        # Python 3.10 names no extended error: a read-only open with neither file beside it can only
        # have been refused the shared-memory file it would make in the folder.
        if reason not in _FOLDER_READ_ONLY or os.path.lexists(log) or os.path.lexists(shared):
            raise
    # Taken before the open: a change in between is a change too.
    snapshot = FileSnapshot.take(path)
    return _connect(path, "mode=ro&immutable=1", timeout_s), snapshot


def _connect(path: Path, query: str, timeout_s: float) -> sqlite3.Connection:
    return sqlite3.connect(
        f"file:{urllib.parse.quote(str(path.absolute()))}?{query}",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
        timeout=timeout_s,
    )
