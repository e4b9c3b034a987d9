"""SQLite's own words for what it gave back: the type of a value read (for naming a row whose type
was damaged), and the name of an error."""

from __future__ import annotations

_STORED_TYPES: dict[type, str] = {str: "TEXT", int: "INTEGER", float: "REAL", type(None): "NULL"}


def stored_type(value: object) -> str:
    """The type a value read back has, as SQL names it (a BLOB reads as ``bytes``)."""
    return "a BLOB" if isinstance(value, bytes) else _STORED_TYPES.get(type(value), "another type")


_ERROR_NAMES = {
    "file is not a database": "SQLITE_NOTADB",
    "unable to open database file": "SQLITE_CANTOPEN",
    "attempt to write a readonly database": "SQLITE_READONLY",
}
"""SQLite's messages for the errors named here, for Python 3.10, whose errors carry no name (3.11 on
gives ``sqlite_errorname``, an extended name where there is one: ``SQLITE_READONLY_DIRECTORY``)."""


def error_name(error: Exception) -> str | None:
    """SQLite's name for ``error`` (``SQLITE_NOTADB``), from its message where Python gives none."""
    name = getattr(error, "sqlite_errorname", None)
    return name if isinstance(name, str) else _ERROR_NAMES.get(str(error))
