"""An alert payload's JSON as received: one object, no repeated key, each value checked for its type.

``alerts.py`` turns the values into an ``Alert``; the checks here know nothing of the schema, so a
refused value raises ``FieldError`` naming its field, which ``alerts.py`` reports as
``InvalidAlertError`` with the same field and message.
"""

from __future__ import annotations

import enum
import json
import math
import re
import sys
from typing import Any, TypeVar

__all__ = [
    "FieldError",
    "hex64",
    "is_hex64",
    "is_unicode",
    "number",
    "optional_count",
    "optional_enum",
    "parse_object",
    "shown",
    "text",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_Enum = TypeVar("_Enum", bound=enum.Enum)


class FieldError(Exception):
    """A received value that is not what its field holds; ``field`` is '' for the whole payload."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of repeated keys and the hash covers only what it kept, so a name repeated
    # earlier would carry text no signature covers into the stored bytes: refused, as canonical JSON
    # never repeats one.
    data = dict(pairs)
    if len(data) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise FieldError(key, "repeated key")
            seen.add(key)
    return data


def parse_object(payload: bytes) -> dict[str, Any]:
    """UTF-8 JSON holding one object whose keys are all different."""
    try:
        document = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = payload[exc.start]
        raise FieldError("", f"not UTF-8: byte {exc.start} ({byte:#04x}) is {exc.reason}") from None
    try:
        data = json.loads(document, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        if document.startswith("\ufeff"):
            raise FieldError("", "not JSON: it begins with a byte order mark (U+FEFF)") from None
        raise FieldError("", f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError:
        # Python refuses to read an integer longer than this; no field of an alert holds one.
        limit = sys.get_int_max_str_digits()
        raise FieldError("", f"not JSON this side reads: a number of more than {limit} digits") from None
    except RecursionError:
        raise FieldError("", "JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise FieldError("", "not a JSON object")
    return data


def is_unicode(value: str) -> bool:
    """Whether UTF-8 can encode ``value``."""
    # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 text (the contract's encoding,
    # and what the hash is taken over) can hold.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(field: str, value: Any, *, nullable: bool = False) -> Any:
    """A non-empty string that UTF-8 can encode (or None where ``nullable``)."""
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise FieldError(field, f"must be a non-empty string, got {shown(value)}")
    if not is_unicode(value):
        raise FieldError(field, "must be valid Unicode text (it holds a lone surrogate escape)")
    return value


def number(field: str, value: Any) -> float:
    """A finite JSON number (not a boolean)."""
    try:
        # An integer beyond a float's range (JSON allows any length) is not finite either.
        result = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    except OverflowError:
        result = None
    if result is None or not math.isfinite(result):
        raise FieldError(field, f"must be a finite number, got {shown(value)}")
    return result


def shown(value: Any) -> str:
    """A received value as JSON writes it (``true``, ``null``, ``"gate"``, ``{"a": 1}``), with what no
    line should hold (controls, bidirectional marks, lone surrogates) escaped as JSON escapes them,
    cut short enough for one line of a log, a stored reason or an error."""
    try:
        rendered = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not a JSON value (the caller's own), or an integer too long
        rendered = repr(value)
    rendered = "".join(
        character if character.isprintable() else json.dumps(character)[1:-1] for character in rendered
    )
    return rendered if len(rendered) <= 80 else f"{rendered[:60]}... ({len(rendered)} characters)"


def is_hex64(value: Any) -> bool:
    """Exactly 64 lowercase hex digits: a SHA-256 or HMAC-SHA256 digest as the contract writes it."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def hex64(field: str, value: Any) -> str:
    if not is_hex64(value):
        raise FieldError(field, "must be 64 lowercase hex digits")
    result: str = value
    return result


def optional_count(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldError(field, f"must be null or an integer >= 0, got {shown(value)}")
    return value


def optional_enum(field: str, value: Any, kind: type[_Enum]) -> _Enum | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(shown(member.value) for member in kind)
        raise FieldError(field, f"must be null or one of {allowed}, got {shown(value)}") from None
