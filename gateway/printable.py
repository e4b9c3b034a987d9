"""Untrusted text (a model's labels, from its model.yaml) made safe to put in a log line.

A label is written by whoever made the model. Put in a log line as it is, a newline in it starts a
line that looks like the gateway's own, an ANSI escape rewrites the operator's terminal, and a
bidirectional override (U+202E) makes what follows it read backwards. ``printable`` writes each such
character as Python's ``repr`` does (``\\n``, ``\\x1b``, ``\\u202e``), without repr's quotes, so a
label reads as itself wherever it is spliced into a message; letters of every script stay as they are.
Neutral like ``domain``: it imports nothing of ours, so any part may log through it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["printable", "printable_list"]


def _escaped(character: str) -> str:
    # repr's own escapes (\n, \x1b, \u202e, \U000e0001), without its quotes.
    return "\\\\" if character == "\\" else repr(character)[1:-1]


def printable(text: str) -> str:
    """``text`` with every character ``str.isprintable`` refuses (controls, format characters such as
    the bidirectional controls, line and paragraph separators, lone surrogates, unassigned code
    points) and the backslash written as a Python escape, so the result is one line that displays in
    its own order and reads back unambiguously."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(
        character if character.isprintable() and character != "\\" else _escaped(character)
        for character in text
    )


def printable_list(texts: Iterable[str]) -> str:
    """``texts`` each made ``printable``, joined with ``", "``."""
    return ", ".join(printable(text) for text in texts)
