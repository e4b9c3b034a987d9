"""Counts and lists as a person writes them: "1 camera", "2 cameras", "0 cameras"; "versions: 1, 2".

Neutral like ``domain``: it imports nothing of ours. The nouns counted are regular (camera, model,
worker, row, alert): the plural adds an s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def versions_listed(versions: Iterable[int]) -> str:
    """A model's version numbers, lowest first, as told to someone who named one it lacks."""
    return ", ".join(str(number) for number in sorted(versions)) or "none"


def names_listed(names: Sequence[str], shown: int = 5) -> str:
    """The first ``shown`` of ``names``, then how many more: "a, b, c, d, e and 2 more"."""
    listed = ", ".join(names[:shown])
    return f"{listed} and {len(names) - shown} more" if len(names) > shown else listed
