"""The known name closest to one someone wrote, to offer as what they likely meant.

Neutral like ``domain``: it imports nothing of ours, so config errors and the pipeline's problems
both offer their guesses through it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CLOSENESS = 0.75
"""difflib's ratio a known name must reach to be offered: catches a dropped or doubled letter, an
``s`` too many or too few, a swapped pair, a stray invisible character ("zone" for "zones",
"detect_fp" for "detect_fps", "face-detecter" for "face-detector"), not a different word."""


def closest(written: str, known: Iterable[str]) -> str | None:
    """The name of ``known`` closest to ``written``, if one is close enough to be a slip."""
    matches = difflib.get_close_matches(written, sorted(set(known)), n=1, cutoff=CLOSENESS)
    return matches[0] if matches else None
