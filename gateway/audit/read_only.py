"""What a store opened read-only (``create=False``: ``audit verify``) must be before it is read.

Opened so, a store is read as it is: the connection is read-only (SQLite's ``mode=ro``,
PostgreSQL's ``default_transaction_read_only``), nothing is created or migrated, and a store older
than ``READABLE_VERSION`` is refused with the command that migrates it. Verifying a store used to
migrate it first: a verification changed what it verified. Both backends of
``gateway.audit.database`` check what they opened with ``readable_version``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gateway.audit import schema
from gateway.audit.schema import STORE_TABLE
from gateway.errors import AuditError

__all__ = ["READABLE_VERSION", "STORE_TABLE", "readable_version"]

READABLE_VERSION = 2
"""The oldest store a read-only connection reads: ``audit verify`` needs the evidence table."""


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
