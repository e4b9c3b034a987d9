"""The two databases the audit store runs on, behind one small interface.

SQLite (``sqlite:///path``, the default) and PostgreSQL (``postgresql://...``, psycopg 3, imported
only when asked for). Statements are written once with ``?`` placeholders; the PostgreSQL backend
rewrites them to ``%s``. Both run every write in an explicit transaction that holds a lock on the
device it touches, so two subscribers sharing one database cannot interleave the dedup and chain
checks of one device: SQLite takes the whole database (``BEGIN IMMEDIATE``), PostgreSQL locks the
device's row (``SELECT ... FOR UPDATE``; devices are locked in sorted order so batches cannot deadlock).

A failed statement is one of two things, and the store treats them oppositely (``is_data_error``):

- an outage: the database is unreachable, locked, full, restarting, or another writer raced this
  one. Retrying the same statement later can succeed, so the batch is retried and nothing is lost.
- a refused value: the statement carries a value this database cannot hold, which no retry changes:
  text with a NUL or a character the database's encoding lacks, a device id longer than a B-tree
  index entry may be, an integer or a string beyond what a column or the driver takes. It comes
  from one message's data, so that message is rejected and the others are stored.

Only errors whose cause is the values themselves are counted as refused: PostgreSQL's class 22
(data exception: out of range, truncation, encoding, invalid representation; psycopg raises its
``DataError`` for a NUL before sending), class 54 (a program limit: an index entry or a statement
too large), a NOT NULL or CHECK violation; SQLite's ``DataError`` (string or blob too big) and its
NOT NULL, CHECK and datatype-mismatch constraint errors; and what either driver raises outside its
own exception tree when it cannot convert a value (``BINDING_ERRORS``). Everything else, including
a unique violation (a race between two writers that a retry resolves) and anything unknown, is an
outage: a good alert is never rejected for an error that might pass.

Opened to serve, a store is never started over: a SQLite file is made complete before it takes its
name, so a file at the name that holds no store (empty, no tables, another program's) is refused
with what to do (``gateway.audit.database_file``), as a PostgreSQL database holding another
program's tables and none of the store's is (``schema.refuse_foreign``). Opened with
``create=False`` (``audit verify``), a store is read as it is, read-only (``gateway.audit.read_only``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

from gateway.audit import schema
from gateway.audit.database_file import (
    BUSY_TIMEOUT_S,
    SQLITE_TYPES,
    open_to_serve,
    refuse_unusable_file,
)
from gateway.audit.read_only import FileSnapshot, open_sqlite, readable_version
from gateway.errors import AuditError
from gateway.url_credentials import MASK, masked_parameters, secret_values, split_user_info

if TYPE_CHECKING:
    import psycopg

BINDING_ERRORS: tuple[type[Exception], ...] = (OverflowError, UnicodeEncodeError)
"""What the drivers raise, outside their own exception trees, for a value they cannot convert: an
integer no SQLite INTEGER holds, text the connection's encoding cannot write (a lone surrogate; on a
LATIN1 PostgreSQL database, any character beyond Latin-1). Always a refused value."""

_SQLITE_REFUSED = frozenset({"SQLITE_CONSTRAINT_NOTNULL", "SQLITE_CONSTRAINT_CHECK", "SQLITE_MISMATCH"})
_POSTGRES_REFUSED = frozenset({"23502", "23514"})
"""not_null_violation and check_violation; the rest of class 23 (unique, foreign key, exclusion)
can be a race with another writer, so it stays an outage."""
_POSTGRES_REFUSED_CLASSES = ("22", "54")
"""data_exception, program_limit_exceeded."""
_POSTGRES_READ_ONLY = "25006"
"""read_only_sql_transaction: an outage, but one the session itself keeps."""


class Database(Protocol):
    """One connection, used by one thread at a time."""

    errors: tuple[type[Exception], ...]
    """The driver's exception types, wrapped into AuditError by the store."""
    version: int
    """The schema version the store's tables are at (``schema.layout``); VERSION once migrated."""
    schema_problem: str | None
    """Opened read-only: what is wrong with the version ``audit_schema`` holds (``schema.version_problem``),
    for ``audit verify`` to report; None otherwise (opened to serve, a damaged one is refused)."""
    skip_locked: str
    """Appended to a ``SELECT`` inside a transaction: rows another writer holds are left out, not
    waited for (empty on SQLite, where the transaction holds the whole database)."""

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def savepoint(self) -> contextlib.AbstractContextManager[None]:
        """Inside a transaction: what the block wrote is undone if it raises, the rest kept."""
        ...

    def is_data_error(self, error: Exception) -> bool:
        """``error`` (one of ``errors`` or ``BINDING_ERRORS``) is a value the database refuses, which
        no retry changes, rather than an outage."""
        ...

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...

    def lock_device(self, device_id: str) -> tuple[int, int]:
        """Lock the device's chain state for this transaction; return (contiguous_seq, max_seq)."""
        ...

    def try_lock_devices(self, device_ids: Sequence[str]) -> set[str]:
        """Lock those of the devices that no other writer holds, without waiting; return them
        (those this transaction already holds included)."""
        ...

    def lock_rejections(self, fingerprints: Iterable[str]) -> None:
        """Lock these rejected messages (``gateway.audit.rejections.fingerprint``) for this
        transaction, in one order every writer shares, before looking them up: two writers handed
        the same messages in opposite orders would otherwise each insert one and wait for the
        other's on the unique index, a deadlock. A transaction locks all its rejections in one call
        (later calls only for those it holds): locks taken in two sorted runs are not in one order."""
        ...

    def close(self) -> None: ...


class SqliteDatabase:
    """WAL mode with ``synchronous=FULL``: an alert acknowledged to the broker survives a power cut."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    skip_locked = ""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self._path = path
        self._snapshot: FileSnapshot | None = None
        """Read ``immutable=1`` (``gateway.audit.read_only``): the file as it was when opened."""
        try:
            # The store is handed from the thread that opens it to the thread that uses it; the
            # Database protocol promises one thread at a time, so the same-thread check is not needed.
            if create:
                self._connection = open_to_serve(path)
            else:
                # Not open_wal_database: switching to WAL writes the file. A WAL store stays one.
                self._connection, self._snapshot = open_sqlite(path, BUSY_TIMEOUT_S)
            if not create:
                self.version = readable_version(
                    self.execute, str(path), sqlite=True, close=self._connection.close
                )
                self.schema_problem = schema.version_problem(self.execute, sqlite=True)
                return
            with self.transaction():
                schema.migrate(self.execute, **SQLITE_TYPES)
            self.version = schema.VERSION
            self.schema_problem = None
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"cannot open the audit database {path}: {exc}") from exc
        except schema.DamagedSchemaError as exc:
            self._connection.close()
            raise AuditError(f"cannot open the audit database {path}: {exc}") from None

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

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        self._connection.execute("SAVEPOINT refusable")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK TO refusable")
            self._connection.execute("RELEASE refusable")
            raise
        self._connection.execute("RELEASE refusable")

    def is_data_error(self, error: Exception) -> bool:
        if isinstance(error, (*BINDING_ERRORS, sqlite3.DataError)):
            return True
        # sqlite_errorname is Python 3.11's; on 3.10 every constraint error stays an outage.
        return isinstance(error, sqlite3.IntegrityError) and (
            getattr(error, "sqlite_errorname", None) in _SQLITE_REFUSED
        )

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

    def try_lock_devices(self, device_ids: Sequence[str]) -> set[str]:
        return set(device_ids)

    def lock_rejections(self, fingerprints: Iterable[str]) -> None:
        pass  # the whole database is already locked by BEGIN IMMEDIATE

    def close(self) -> None:
        """AuditError when the store was read ``immutable=1`` and its file changed meanwhile: what was
        read may mix pages of before and after, so none of it is to be trusted."""
        self._connection.close()
        if self._snapshot is not None and self._snapshot.changed():
            raise AuditError(
                f"the audit database {self._path} changed while it was read (a writer opened it "
                "meanwhile, and this user, who may not write its folder, cannot share its locks): what "
                "was read is not used; read it again"
            )


class PostgresDatabase:
    """A server restart or a dropped connection fails the current transaction (the caller retries
    it); the next one reconnects."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        try:
            import psycopg  # noqa: PLC0415 - optional dependency, needed only for postgresql:// URLs
        except ImportError as exc:
            raise AuditError(
                "a postgresql:// database needs psycopg: pip install 'edge-gateway[postgres]'"
            ) from exc
        self._psycopg = psycopg
        self._url = url
        self._read_only = not create
        self._in_transaction = False
        self.errors: tuple[type[Exception], ...] = (psycopg.Error,)
        self.skip_locked = " FOR UPDATE SKIP LOCKED"
        try:
            self._connection = self._connect()
            if not create:
                self.version = readable_version(
                    self.execute, _without_password(url), sqlite=False, close=self._connection.close
                )
                self.schema_problem = schema.version_problem(self.execute, sqlite=False)
                return
            with self.transaction():
                # Two subscribers starting together would race on creating and migrating the tables.
                self.execute("SELECT pg_advisory_xact_lock(7468121)")
                schema.refuse_foreign(self.execute, sqlite=False)
                schema.migrate(self.execute, blob="BYTEA", serial="BIGSERIAL PRIMARY KEY")
            self.version = schema.VERSION
            self.schema_problem = None
        except schema.ForeignTablesError as exc:
            self._connection.close()
            raise AuditError(f"cannot open the audit database {_without_password(url)}: {exc}") from None
        except psycopg.Error as exc:
            # Not chained: a traceback would print the driver's own message, secrets and all.
            raise AuditError(
                f"cannot open the audit database {_without_password(url)}: {_without_secrets(str(exc), url)}"
            ) from None

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        connection = self._psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        if self._read_only:
            # Every statement of the session: a write fails in the server, whatever the code asks.
            connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return connection

    def _ensure_connected(self) -> None:
        if self._connection.closed or self._connection.broken:
            self._connection.close()
            self._connection = self._connect()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._ensure_connected()
        try:
            with self._connection.transaction():
                self._in_transaction = True
                try:
                    yield
                finally:
                    self._in_transaction = False
        except self._psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) == _POSTGRES_READ_ONLY and not self._read_only:
                # A session's read-only default is fixed when it starts (a managed server sets it
                # while its disk is full, an operator while they work): this one would refuse
                # every retry after the database is writable again. The next one starts afresh.
                self._connection.close()
            raise

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        # Nested in the open transaction, psycopg's transaction block is a savepoint: a statement
        # that fails aborts only what followed it, and the transaction goes on.
        with self._connection.transaction():
            yield

    def is_data_error(self, error: Exception) -> bool:
        if isinstance(error, (*BINDING_ERRORS, self._psycopg.DataError)):
            return True
        sqlstate = getattr(error, "sqlstate", None)
        return (
            isinstance(error, self._psycopg.Error)
            and isinstance(sqlstate, str)
            and (sqlstate.startswith(_POSTGRES_REFUSED_CLASSES) or sqlstate in _POSTGRES_REFUSED)
        )

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

    def try_lock_devices(self, device_ids: Sequence[str]) -> set[str]:
        if not device_ids:
            return set()
        rows = self.execute(
            f"SELECT device_id FROM audit_devices WHERE device_id IN ({', '.join('?' * len(device_ids))}) "
            "ORDER BY device_id FOR UPDATE SKIP LOCKED",
            tuple(device_ids),
        )
        return {str(row[0]) for row in rows}

    def lock_rejections(self, fingerprints: Iterable[str]) -> None:
        # Transaction-scoped advisory locks in ascending key order: a writer waits at the first
        # message another holds, holding none that one still needs. Only if this one call takes
        # every rejection of the transaction (the store defers a held image's rejection to it): a
        # key is 32 bits of a fingerprint, so two messages can share one, and a key taken in an
        # earlier run could be above one this run waits for.
        keys = sorted({_rejection_lock_key(marker) for marker in fingerprints})
        if keys:
            self.execute_many(
                f"SELECT pg_advisory_xact_lock({_REJECTION_LOCK_CLASS}, ?)", [(key,) for key in keys]
            )

    def close(self) -> None:
        self._connection.close()


_REJECTION_LOCK_CLASS = 7468122
"""The advisory lock class of rejected messages (two-key locks: apart from the schema's one-key lock)."""


def _rejection_lock_key(marker: str) -> int:
    """A fingerprint's lock: its first 32 bits, signed as PostgreSQL's ``integer``. Two messages that
    share one only wait for each other."""
    return int.from_bytes(bytes.fromhex(marker[:8]), "big", signed=True)


def open_database(url: str, *, create: bool = True) -> Database:
    """``sqlite:///relative/or//absolute/path`` or ``postgresql://`` / ``postgres://``.

    With ``create=False`` (``audit verify``) the store is opened read-only and as it is: a missing
    SQLite file, a database holding no audit store, or a store older than READABLE_VERSION is an
    error rather than a new empty store or a migration: the wrong ``--db`` verified "OK", and had
    the audit tables created in it.
    """
    if database_kind(url) == SQLITE:
        path = Path(url.removeprefix("sqlite:///"))
        refuse_unusable_file(path, create=create)
        return SqliteDatabase(path, create=create)
    return PostgresDatabase(url, create=create)


SQLITE = "SQLite"
POSTGRESQL = "PostgreSQL"


def database_kind(url: str) -> str:
    """SQLITE or POSTGRESQL by the URL's scheme; AuditError naming the URL (its password left out)
    for any other."""
    if url.startswith("sqlite:///"):
        return SQLITE
    if url.startswith(("postgresql://", "postgres://")):
        return POSTGRESQL
    raise AuditError(
        f"unsupported database URL {_without_password(url)!r}: use sqlite:///path or postgresql://"
    )


def _without_secrets(message: str, url: str) -> str:
    """The driver's ``message`` without ``url`` or its passwords: libpq quotes the part of a URL it
    cannot parse (a bad percent-escape, a space), which may be the password, or the whole URL."""
    _, user_info, address = split_user_info(url)
    secrets = {url, user_info.partition(":")[2], *secret_values(address.partition("?")[2])}
    secrets |= {unquote(secret) for secret in secrets}
    for secret in sorted(secrets - {""}, key=len, reverse=True):
        message = message.replace(secret, MASK)
    return message


def _without_password(url: str) -> str:
    scheme, user_info, address = split_user_info(url)
    path, question, query = address.partition("?")
    shown = f"{path}{question}{masked_parameters(query)}"
    if ":" in user_info:
        return f"{scheme}{user_info.split(':', 1)[0]}:{MASK}@{shown}"
    return f"{scheme}{user_info}{'@' if user_info else ''}{shown}"
