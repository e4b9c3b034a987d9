"""What a value read back from SQLite is, in SQL's words: for naming a row whose type was damaged."""

from __future__ import annotations

_STORED_TYPES: dict[type, str] = {str: "TEXT", int: "INTEGER", float: "REAL", type(None): "NULL"}


def stored_type(value: object) -> str:
    """The type a value read back has, as SQL names it (a BLOB reads as ``bytes``)."""
    return "a BLOB" if isinstance(value, bytes) else _STORED_TYPES.get(type(value), "another type")
