"""The two databases the audit store runs on, behind one small interface.

SQLite (``sqlite:///path``, the default) and PostgreSQL (``postgresql://...``, psycopg 3, imported
only when asked for). Statements are written once with ``?`` placeholders; the PostgreSQL backend
rewrites them to ``%s``. Both run every write in an explicit transaction that holds a lock on the
device it touches, so two subscribers sharing one database cannot interleave the dedup and chain
checks of one device: SQLite takes the whole database (``BEGIN IMMEDIATE``), PostgreSQL locks the
device's row (``SELECT ... FOR UPDATE``; devices are locked in sorted order so batches cannot deadlock).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.audit import schema
from gateway.errors import AuditError
from gateway.sqlite_open import open_wal_database

if TYPE_CHECKING:
    import psycopg


class Database(Protocol):
    """One connection, used by one thread at a time."""

    errors: tuple[type[Exception], ...]
    """The driver's exception types, wrapped into AuditError by the store."""

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...

    def lock_device(self, device_id: str) -> tuple[int, int]:
        """Lock the device's chain state for this transaction; return (contiguous_seq, max_seq)."""
        ...

    def close(self) -> None: ...


class SqliteDatabase:
    """WAL mode with ``synchronous=FULL``: an alert acknowledged to the broker survives a power cut."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The store is handed from the thread that opens it to the thread that uses it; the
            # Database protocol promises one thread at a time, so the same-thread check is not needed.
            self._connection = open_wal_database(path, synchronous="full", busy_timeout_s=30.0)
            with self.transaction():
                schema.migrate(self.execute, blob="BLOB", serial="INTEGER PRIMARY KEY AUTOINCREMENT")
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"cannot open the audit database {path}: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so a second process waits here (busy timeout)
        # instead of failing at its first write after reading a state that is about to change.
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, tuple(parameters)).fetchall()

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._connection.executemany(sql, rows)

    def lock_device(self, device_id: str) -> tuple[int, int]:
        # The whole database is already locked by BEGIN IMMEDIATE.
        self.execute(
            "INSERT INTO audit_devices (device_id, contiguous_seq, max_seq) VALUES (?, 0, 0) "
            "ON CONFLICT (device_id) DO NOTHING",
            (device_id,),
        )
        (row,) = self.execute(
            "SELECT contiguous_seq, max_seq FROM audit_devices WHERE device_id = ?", (device_id,)
        )
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self._connection.close()


class PostgresDatabase:
    """A server restart or a dropped connection fails the current transaction (the caller retries
    it); the next one reconnects."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg  # noqa: PLC0415 - optional dependency, needed only for postgresql:// URLs
        except ImportError as exc:
            raise AuditError(
                "a postgresql:// database needs psycopg: pip install 'edge-gateway[postgres]'"
            ) from exc
        self._psycopg = psycopg
        self._url = url
        self._in_transaction = False
        self.errors: tuple[type[Exception], ...] = (psycopg.Error,)
        try:
            self._connection = self._connect()
            with self.transaction():
                # Two subscribers starting together would race on creating and migrating the tables.
                self.execute("SELECT pg_advisory_xact_lock(7468121)")
                schema.migrate(self.execute, blob="BYTEA", serial="BIGSERIAL PRIMARY KEY")
        except psycopg.Error as exc:
            raise AuditError(f"cannot open the audit database {_without_password(url)}: {exc}") from exc

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return self._psycopg.connect(self._url, autocommit=True, connect_timeout=10)

    def _ensure_connected(self) -> None:
        if self._connection.closed or self._connection.broken:
            self._connection.close()
            self._connection = self._connect()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._ensure_connected()
        with self._connection.transaction():
            self._in_transaction = True
            try:
                yield
            finally:
                self._in_transaction = False

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        if not self._in_transaction:
            self._ensure_connected()
        cursor = self._connection.execute(sql.replace("?", "%s"), tuple(parameters))
        if cursor.description is None:
            return []
        return [
            tuple(bytes(value) if isinstance(value, memoryview) else value for value in row) for row in cursor
        ]

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self._connection.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    def lock_device(self, device_id: str) -> tuple[int, int]:
        self.execute(
            "INSERT INTO audit_devices (device_id, contiguous_seq, max_seq) VALUES (?, 0, 0) "
            "ON CONFLICT (device_id) DO NOTHING",
            (device_id,),
        )
        (row,) = self.execute(
            "SELECT contiguous_seq, max_seq FROM audit_devices WHERE device_id = ? FOR UPDATE", (device_id,)
        )
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self._connection.close()


def open_database(url: str, *, create: bool = True) -> Database:
    """``sqlite:///relative/or//absolute/path`` or ``postgresql://`` / ``postgres://``.

    With ``create=False`` a missing SQLite file is an error rather than a new empty store.
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not create and not path.exists():
            raise AuditError(f"no audit database at {path}")
        return SqliteDatabase(path)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    raise AuditError(
        f"unsupported database URL {_without_password(url)!r}: use sqlite:///path or postgresql://"
    )


def _without_password(url: str) -> str:
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{separator}{credentials.split(':', 1)[0]}:***@{host}"
