"""The audit store's SQLite file as a whole: made complete before it takes its name, refused when what
is there holds no store.

Opened to serve, a store is never started over. SQLite opens an empty file, a file cut short and
another program's database as a database it may write into, and each became a new, empty store
without a word: the fleet's audit history started over. So:

- A path that cannot hold the store is refused before SQLite opens it (``refuse_unusable_file``): one
  that cannot be looked at, one that is no regular file (SQLite waits for ever to open a FIFO), an
  empty one, and, read-only (``audit verify``), a missing one.
- A new store is made under a temporary name and given its name once its tables are in it
  (``create_store``): SQLite gives a new file its name before its tables, so a file found at the name
  without them could have been one being made, and could not be refused.
- A file at the name that holds no store (no tables, another program's, no SQLite database) is then
  refused with what to do (``refuse_not_a_store``), before anything writes to it: the switch to WAL
  would, into another program's file.

``open_to_serve`` takes a store's file through the last two in order; ``gateway.audit.database`` runs
the first for both ways of opening, and turns the OSError and sqlite3.Error these let through into an
AuditError that names the database.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import uuid
from pathlib import Path

from gateway import sqlite_file
from gateway.audit import schema
from gateway.config.bounded_read import file_kind
from gateway.errors import AuditError
from gateway.private_files import make_private_directory
from gateway.sqlite_open import open_wal_database
from gateway.sqlite_types import error_name

__all__ = [
    "BUSY_TIMEOUT_S",
    "SQLITE_TYPES",
    "create_store",
    "open_to_serve",
    "refuse_not_a_store",
    "refuse_unusable_file",
]

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0
"""How long a connection to the store waits for another's lock (two subscribers share one store)."""
SQLITE_TYPES = {"blob": "BLOB", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}
"""The column types ``schema.migrate`` writes the store's tables with on SQLite."""
_MOVE_ASIDE = "restore it from a backup, or move it aside to start a new store"


def _open_wal(path: Path) -> sqlite3.Connection:
    """WAL mode with ``synchronous=FULL``: an alert acknowledged to the broker survives a power cut."""
    return open_wal_database(path, synchronous="full", busy_timeout_s=BUSY_TIMEOUT_S)


def open_to_serve(path: Path) -> sqlite3.Connection:
    """The store's file at ``path``, made where nothing is and refused where it holds no store, opened
    in WAL mode. OSError and sqlite3.Error are left to the caller, which names the database."""
    make_private_directory(path.parent)
    if not os.path.lexists(path):
        create_store(path)
    refuse_not_a_store(path)
    return _open_wal(path)


def refuse_unusable_file(path: Path, *, create: bool) -> None:
    """AuditError for a SQLite path that cannot hold the store: one that cannot be looked at (a
    folder on the way this user may not search), one that is no regular file (SQLite waits for ever
    to open a FIFO), an empty one, and a missing one when the store is not to be created."""
    try:
        status = path.stat()
        mode, size = status.st_mode, status.st_size
    except FileNotFoundError:
        if create:
            return
        raise AuditError(f"no audit database at {path}") from None
    except OSError as exc:
        raise AuditError(f"cannot open the audit database {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise AuditError(f"the audit database {path} is {file_kind(mode)}, not a regular file")
    if size == 0:
        # SQLite opens an empty file as a new database; a store is never one (it is made complete
        # before it takes its name, ``create_store``), so this one was truncated.
        raise AuditError(
            f"cannot open the audit database {path}: the file is empty (0 bytes; truncated?): {_MOVE_ASIDE}"
        )


def create_store(path: Path) -> None:
    """A new store at ``path`` (where nothing is), made under a temporary name and given its name once
    its tables are in it (``sqlite_file.create``): SQLite gives a new file its name before its tables,
    so a file found at ``path`` without them could have been one being made, and could not be refused.
    Another ``audit serve`` making it at the same time is fine: the first to finish names it, and both
    open that one. A write-ahead log left at ``path`` without its file is refused: SQLite would replay
    it onto the new store (pages of the store that was there)."""
    target = Path(os.path.realpath(path))
    log = sqlite_file.beside(target, "-wal")
    if os.path.lexists(log):
        if os.path.lexists(target):
            return  # another instance named its store meanwhile and opened it, log and all
        raise AuditError(
            f"cannot open the audit database {path}: it is missing while its write-ahead log {log} is "
            "there (the file moved or deleted?): put the file back, or move the log aside too to start a "
            "new store"
        )

    def make(connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        schema.migrate(_statements(connection), **SQLITE_TYPES)
        connection.execute("COMMIT")

    # A name of its own for each process: two making the store at once, with no lock between them.
    temporary = target.with_name(f"{target.name}.{uuid.uuid4().hex[:12]}.new")
    if sqlite_file.create(target, temporary, _open_wal, make, exclusive=True):
        logger.info("audit store %s created", path)


def refuse_not_a_store(path: Path) -> None:
    """AuditError when the file at ``path`` holds no audit store, before anything writes to it (the
    switch to WAL would, into another program's file): no tables at all (what was stored in it lost,
    as a new store always has its tables), another program's tables, or no SQLite database."""
    probe = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    try:
        if not sqlite_file.table_names(probe):
            raise AuditError(
                f"cannot open the audit database {path}: it holds no tables, so whatever was stored in it "
                f"is lost (its write-ahead log {path.name}-wal deleted, cut short or damaged, or the file "
                "itself cut short), or it never held any (an older release's first start stopped before "
                f"its tables were written): {_MOVE_ASIDE}"
            )
        schema.refuse_foreign(_statements(probe), sqlite=True)
    except schema.ForeignTablesError as exc:
        raise AuditError(f"cannot open the audit database {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        if error_name(exc) != "SQLITE_NOTADB":
            raise
        raise AuditError(
            f"cannot open the audit database {path}: it is no SQLite database ({exc}): {_MOVE_ASIDE}"
        ) from None
    finally:
        probe.close()


def _statements(connection: sqlite3.Connection) -> schema.Execute:
    """``schema``'s way to run a statement, on a connection of the SQLite module's own."""
    return lambda sql, parameters: connection.execute(sql, tuple(parameters)).fetchall()
