"""Texts in a config that hold no characters: a lone surrogate.

YAML's double-quoted escapes write one (``"\\ud800"``, half of a UTF-16 pair) and an environment's
undecodable bytes become them; Python takes it as a string, but nothing can write it out as UTF-8.
Accepted, it raised ``UnicodeEncodeError`` where it was used, long after ``check-config`` said "ok":
in the MQTT client (a username, the topic prefix: ``audit serve`` then ran on without subscribing),
opening a file, a log line.
"""

from __future__ import annotations

from typing import Any

from gateway.config.fields import without_credentials
from gateway.config.locations import ConfigSource, KeyPath
from gateway.errors import ConfigProblem
from gateway.printable import printable

WRITTEN_CHARACTERS = 40
"""Longest text quoted in the problem."""


def unwritable_texts(value: Any, path: KeyPath, source: ConfigSource) -> list[ConfigProblem]:
    """A problem for each key or text value below ``path`` that holds a lone surrogate."""
    if isinstance(value, dict):
        problems = []
        for key, item in value.items():
            why = _unwritable(key) if isinstance(key, str) else None
            if why is not None:
                problems.append(source.problem(path, f"the key {why}"))
            else:
                problems.extend(unwritable_texts(item, (*path, str(key)), source))
        return problems
    if isinstance(value, list):
        return [
            problem
            for index, item in enumerate(value)
            for problem in unwritable_texts(item, (*path, index), source)
        ]
    why = _unwritable(value) if isinstance(value, str) else None
    return [] if why is None else [source.problem(path, why)]


def _unwritable(text: str) -> str | None:
    """Why UTF-8 cannot write ``text``; None when it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A URL's user info and query may hold a password or a token.
        shown = printable(without_credentials(text) if "://" in text else text)
        if len(shown) > WRITTEN_CHARACTERS:
            shown = f"{shown[: WRITTEN_CHARACTERS - 3]}..."
        return (
            f"'{shown}' holds a lone surrogate ({printable(text[exc.start])}), which UTF-8 text cannot "
            "carry: write the character itself or one \\U escape (YAML does not join a \\u surrogate pair)"
        )
    return None
