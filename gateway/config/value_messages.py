"""A value outside its bounds or its choices, said in words with the value written.

pydantic says "Input should be greater than or equal to 1" without the value it was given (in a
long file, which of several was it?), "List should have at least 3 items after validation, not 2"
for a short list, "Input should be 'presence', 'line_crossing', ..." for a misspelt choice
without the choice likely meant, "Input should be a valid tuple" for a word where a list belongs,
and "Input is not a valid path for <class 'pathlib.Path'>" for a number where a path belongs.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

from pydantic_core import ErrorDetails

from gateway.suggestions import closest

_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least"),
    "greater_than": ("gt", "must be more than"),
    "less_than_equal": ("le", "must be at most"),
    "less_than": ("lt", "must be less than"),
}

_TYPES = {
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "a whole number"),
    **dict.fromkeys(("float_type", "float_parsing"), "a number"),
    "finite_number": "a finite number",
    **dict.fromkeys(("bool_type", "bool_parsing"), "true or false"),
    "string_type": "a text",
    "path_type": "a path (a text)",
    **dict.fromkeys(("list_type", "tuple_type"), "a list ([a, b])"),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), "a section of keys (key: value)"),
}
"""pydantic's type errors, said as a YAML writer thinks of the value: "Input should be a valid
tuple" for ``in_direction: left`` said neither what a tuple is in YAML nor what was written."""
_KINDS: dict[type, str] = {str: "a text", list: "a list", dict: "a section"}
WRITTEN_CHARACTERS = 40
"""Longest value quoted in a type error; a mapping or list written where a number belongs can be long."""

LARGEST_WHOLE = 10**15
"""Past this a float is written as Python writes it: as a whole number it would run to many digits."""


_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
"""One of the choices in pydantic's ``expected``: "'presence', 'loiter' or 'count'"."""


def value_message(error: ErrorDetails) -> str | None:
    """The message for a number or a list outside its bounds, a value of the wrong type, an empty
    text, a key left out, or a value none of its choices; None for any other error."""
    context = error.get("ctx", {})
    kind = error["type"]
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"{words} {_number(context[key])}, got {_number(error['input'])}"
    if kind == "too_short" and "min_length" in context:
        return f"needs at least {_entries(context['min_length'])}, got {context.get('actual_length')}"
    if kind == "too_long" and "max_length" in context:
        return f"takes at most {_entries(context['max_length'])}, got {context.get('actual_length')}"
    if kind in _TYPES:
        return f"must be {_TYPES[kind]}, got {_written(error['input'])}"
    if kind == "int_parsing_size":
        return f"is too large for a whole number, got {_written(error['input'])}"
    if kind == "string_too_short" and context.get("min_length") == 1:
        return "must not be empty"
    if kind == "missing":
        return "is required"
    if kind in ("literal_error", "enum") and "expected" in context:
        written = error["input"]
        meant = closest(written, _QUOTED.findall(context["expected"])) if isinstance(written, str) else None
        hint = "" if meant is None else f"; did you mean {meant!r}?"
        return f"must be {context['expected']}, got {_written(written)}{hint}"
    if kind == "invalid_key":
        return f"a key must be a text, got {_written(error['input'])}"
    return None


def _written(value: Any) -> str:
    """The value as the file had it, shortened: ``'left'``, ``1.5``, ``[0, 1]``, ``.nan``, ``null``, a
    date said to be one."""
    if value is None:
        return "null (nothing)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, datetime.date):
        # YAML reads an unquoted 2026-01-01 as a date, not as the text it looks like.
        kind = "time" if isinstance(value, datetime.datetime) else "date"
        return f"the {kind} {value.isoformat()} (quoted, it would be a text)"
    text = _number(value) if isinstance(value, int | float) else repr(value)
    if "://" in text:
        # A URL may carry a user and password, and cut short no redaction would find them.
        return f"{_KINDS.get(type(value), 'a value')} holding a URL"
    return text if len(text) <= WRITTEN_CHARACTERS else f"{text[: WRITTEN_CHARACTERS - 3]}..."


def _number(value: Any) -> str:
    """3600.0 as 3600, 0.5 as 0.5: as the file would have it."""
    if isinstance(value, float) and value.is_integer() and abs(value) < LARGEST_WHOLE:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"
