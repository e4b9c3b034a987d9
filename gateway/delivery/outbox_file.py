"""The outbox's SQLite file as a whole: made complete before it takes its name, refused when what is
there holds no outbox, and watched for being deleted or replaced while the gateway has it open.

Each of these started a new chain at seq 1 without a word, the alerts committed before gone, and the
audit side then rejects every new seq as a duplicate of what it holds from this device:

- A file with no tables, which SQLite opens as a new database: what a crash before SQLite's first
  checkpoint left of an outbox made by earlier gateways (the 4,096-byte header, every alert in
  ``outbox.db-wal``) once that log was deleted, cut short or damaged at its first frames, or the main
  file emptied (SQLite then deletes the log); or a file cut short. A new outbox is now made under a
  temporary name with its tables and renamed into place (``create``): a file at the outbox's name with
  no tables never comes from the gateway, and is refused (``refuse_not_outbox``), as is another
  program's SQLite file.
- Its log deleted after a crash or a power loss: SQLite deletes the log and its shared-memory file
  (``outbox.db-shm``) when the gateway closes the outbox, and leaves both when it does not, so a
  shared-memory file without its log is a log lost (``refuse_lost_log``). A log cut short or damaged
  is SQLite's to read: it keeps the transactions before the damage, and those after are lost unsaid.
- The file deleted while the gateway runs: SQLite goes on committing into the deleted inode, healthy,
  and the alerts are gone when the process ends. ``FileWatch`` notices, and the gateway says so.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from gateway import sqlite_file
from gateway.errors import OutboxError
from gateway.open_files import exhaustion
from gateway.sqlite_file import beside, remove_leftovers, table_names
from gateway.wording import names_listed

__all__ = ["FileWatch", "beside", "create", "refuse_lost_log", "refuse_not_outbox"]

logger = logging.getLogger(__name__)

_LOST_ADVICE = (
    "restore it (with its -wal file) from a backup, or move it aside to start a new chain at seq 1 "
    "(the audit side will reject those seqs as duplicates of the alerts it already holds from this device)"
)


def create(
    path: Path,
    open_database: Callable[[Path], sqlite3.Connection],
    make: Callable[[sqlite3.Connection], None],
) -> None:
    """Make the outbox at ``path`` (where nothing is) under a temporary name, renamed into place once
    complete (``sqlite_file.create``), so that a crash on the way leaves no file at ``path``. The
    caller holds the outbox's lock. A write-ahead log left at ``path`` without its database is
    refused: SQLite would replay it onto the new file (an old chain head over the new tables, pages of
    another file)."""
    log = beside(path, "-wal")
    if os.path.lexists(log):
        raise OutboxError(
            f"outbox {path}: cannot open: it is missing while its write-ahead log {log} is there (the "
            "file moved or deleted after a crash?): put the file back, or move the log aside too to start "
            "a new chain at seq 1 (the audit side will reject those seqs as duplicates of the alerts it "
            "already holds from this device)"
        )
    temporary = path.with_name(path.name + ".new")
    try:
        remove_leftovers(temporary)
    except OSError as exc:
        raise OutboxError(
            f"outbox: cannot remove {exc.filename}, left by a creation that did not finish: {exc}"
        ) from exc
    try:
        sqlite_file.create(path, temporary, open_database, make, exclusive=False)
    except (sqlite3.Error, OSError) as exc:
        # SQLite says "unable to open database file" whatever the cause: out of descriptors is named.
        cause = exhaustion(exc)
        raise OutboxError(f"outbox {path}: cannot create: {f'{cause}: ' if cause else ''}{exc}") from exc
    logger.info("outbox %s created: its chain starts at seq 1", path)


def refuse_lost_log(path: Path) -> None:
    """Raise OutboxError when the outbox at ``path`` was not closed (its shared-memory file is there)
    and its write-ahead log, which held what was committed since SQLite last copied it into the
    file, is gone."""
    log, shared = beside(path, "-wal"), beside(path, "-shm")
    if os.path.lexists(path) and os.path.lexists(shared) and not os.path.lexists(log):
        raise OutboxError(
            f"outbox {path}: cannot open: its write-ahead log {log.name} is missing while {shared.name} "
            "is there: the gateway stopped without closing it (a crash or power loss) and the log, which "
            f"holds the alerts committed since, was deleted: {_LOST_ADVICE}"
        )


def refuse_not_outbox(database: sqlite3.Connection, path: Path) -> None:
    """Raise OutboxError when the database at ``path``, as SQLite opened it, holds no outbox: no
    tables at all (its content lost), or another program's."""
    tables = table_names(database)
    if "alerts" in tables:
        return
    if not tables:
        raise OutboxError(
            f"outbox {path}: cannot open: it holds no tables, so whatever was committed to it is lost (its "
            f"write-ahead log {path.name}-wal deleted, cut short or damaged, or the file itself cut "
            "short), or it never held any (an older gateway's first start stopped before its tables were "
            f"written): {_LOST_ADVICE}"
        )
    raise OutboxError(
        f"outbox {path}: cannot open: it is not an outbox (a SQLite file whose tables are "
        f"{names_listed(tables)}): point "
        "state_dir at the gateway's own folder, or move the file aside"
    )


class FileWatch:
    """Whether the outbox file opened is still the one at its path."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._identity = _identity(path)
        self._said = False

    def problem(self) -> str | None:
        """Why the file open is no longer the outbox at its path (deleted, or another file put there),
        logged the first time; None while it is."""
        identity = _identity(self._path)
        if identity == self._identity:
            return None
        what = "deleted" if identity is None else "replaced by another file"
        problem = (
            f"outbox {self._path} was {what} while open: the alerts committed go on into the old file, "
            "which is gone when the gateway stops; stop it and restore the file from a backup"
        )
        if not self._said:
            self._said = True
            logger.error("%s", problem)
        return problem


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino
