"""Open a SQLite database in WAL mode so that any number of connections may do it at once.

Both sides use it: the device's outbox and the audit store's SQLite backend.

Why a busy timeout alone is not enough: switching a database to WAL writes the file header, and
SQLite does that by opening a read transaction and then upgrading it to an exclusive one. When two
connections open a new file together, both can hold the read lock; the one that cannot upgrade gets
SQLITE_BUSY at once, without the busy handler being called, because waiting while holding a read
lock could deadlock against the other. The failed statement releases its read lock, so retrying the
switch is safe and soon succeeds: by then the winner has written the header and the switch is a
read. The retry is bounded by the same deadline as the busy timeout.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Literal

__all__ = ["Synchronous", "open_wal_database"]

Synchronous = Literal["full", "normal"]

_SQLITE_BUSY = 5
_FIRST_RETRY_DELAY_S = 0.001
_MAX_RETRY_DELAY_S = 0.05


def open_wal_database(path: Path, *, synchronous: Synchronous, busy_timeout_s: float) -> sqlite3.Connection:
    """An autocommit connection (transactions are the caller's explicit ``BEGIN``) in WAL mode.

    Usable from any thread, one at a time. Raises ``sqlite3.OperationalError`` when the database
    stays locked past ``busy_timeout_s`` or the file system cannot hold a WAL database.
    """
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s)
    try:
        _switch_to_wal(connection, time.monotonic() + busy_timeout_s)
        _set_busy_timeout(connection, busy_timeout_s)
        # Validated by the Literal type; PRAGMA takes no bound parameters.
        connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
    except BaseException:
        connection.close()
        raise
    return connection


def _switch_to_wal(connection: sqlite3.Connection, deadline: float) -> None:
    delay = _FIRST_RETRY_DELAY_S
    while True:
        try:
            (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.OperationalError as exc:
            remaining_s = deadline - time.monotonic()
            if not _is_busy(exc) or remaining_s <= delay:
                raise
            time.sleep(delay)
            # A retry may wait in the busy handler too: only for what is left of the deadline.
            _set_busy_timeout(connection, remaining_s - delay)
            delay = min(delay * 2, _MAX_RETRY_DELAY_S)
            continue
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(
                f"journal mode is {mode}, not wal: WAL needs a file on a local disk"
            )
        return


def _set_busy_timeout(connection: sqlite3.Connection, timeout_s: float) -> None:
    connection.execute(f"PRAGMA busy_timeout={max(1, round(timeout_s * 1000))}")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF == _SQLITE_BUSY
    return str(exc) == "database is locked"
