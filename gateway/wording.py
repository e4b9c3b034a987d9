"""A count and its noun as a person writes them: "1 camera", "2 cameras", "0 cameras".

Neutral like ``domain``: it imports nothing of ours. The nouns counted are regular (camera, model,
worker, row, alert): the plural adds an s.
"""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
