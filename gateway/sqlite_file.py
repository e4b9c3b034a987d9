"""A SQLite file as a whole, for both sides (the device's outbox, the audit store's SQLite backend):
made complete before it takes its name.

A database that SQLite creates takes its name empty, and gets its header and then its tables in later
writes. A crash on the way, or a second process opening the name meanwhile, finds a file of 0 bytes
or one with no tables, which cannot be told from a file truncated or one whose write-ahead log was
lost: opened, either is a new, empty database, and what was committed to it is gone without a word.
``create`` makes the database under a temporary name and gives it its name once its tables are in
it, so that a file at the name with no tables never comes from us, and its owner can refuse it.
The temporary file is made (0600) before SQLite opens it: SQLite would create it with the umask's
mode (0644 under the usual 022: every alert and picture in it readable by all), and its ``-wal`` and
``-shm`` files take the database's mode (``gateway.private_files``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from gateway.durable import fsync_path, place_new
from gateway.private_files import create_private_file

__all__ = ["beside", "create", "remove_leftovers", "table_names"]


def beside(path: Path, suffix: str) -> Path:
    """The file SQLite keeps beside the database at ``path`` (``-wal``, ``-shm``): beside the file a
    link there points to, where SQLite puts them."""
    resolved = Path(os.path.realpath(path))
    return resolved.with_name(resolved.name + suffix)


def create(
    path: Path,
    temporary: Path,
    open_database: Callable[[Path], sqlite3.Connection],
    make: Callable[[sqlite3.Connection], None],
    *,
    exclusive: bool,
) -> bool:
    """Make the database at ``path``: created (0600) at ``temporary``, where nothing may be, opened by
    ``open_database`` there, given its tables by ``make``, closed (which checkpoints its log into it),
    flushed and given the name ``path``. ``exclusive``: the name is taken only if nothing holds it by
    then (two processes creating it with no lock between them), and False is returned when another
    process took it first; otherwise the caller holds a lock and the file is renamed into place.
    Raises ``sqlite3.Error`` or ``OSError``, having removed what it made at ``temporary``."""
    try:
        create_private_file(temporary)
        database = open_database(temporary)
        try:
            make(database)
        finally:
            database.close()
        if temporary.with_name(temporary.name + "-wal").exists():
            raise sqlite3.OperationalError(f"its log was not written into {temporary}")
        fsync_path(temporary)
        placed = True
        if exclusive:
            try:
                place_new(temporary, path)
            except FileExistsError:
                placed = False
            with contextlib.suppress(FileNotFoundError):  # gone where it was renamed into place
                os.unlink(temporary)
        else:
            os.rename(temporary, path)
        fsync_path(path.parent)
    except (sqlite3.Error, OSError):
        with contextlib.suppress(OSError):  # the failure that brought us here is the one to tell
            remove_leftovers(temporary)
        raise
    return placed


def remove_leftovers(temporary: Path) -> None:
    """A temporary database of a creation that did not finish, and its log and shared memory; OSError
    (naming the file) when one cannot be removed."""
    for leftover in (
        temporary,
        *(temporary.with_name(temporary.name + suffix) for suffix in ("-wal", "-shm")),
    ):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def table_names(database: sqlite3.Connection) -> list[str]:
    """The tables of the database, by name."""
    return sorted(row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
