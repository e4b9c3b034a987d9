"""A camera picture's ``longest_side`` option (``snapshot.jpg``, ``stream.mjpeg``): the frame scaled
down to at most that many pixels on its longest side, its shape kept (as Frigate's ``latest.jpg?h=``),
for a page that shows it small: the console's tiles renewed a 4K camera's picture, 300 to 820 KiB,
every 2 s each."""

from __future__ import annotations

import re

from aiohttp import web

from gateway.errors import InvalidInputError
from gateway.web.query import given_once

SMALLEST = 16
LARGEST = 65535
"""JPEG's own largest side."""


def longest_side_asked(request: web.Request) -> int | None:
    """The longest side asked for, None when not given; a 400 naming ``longest_side`` for a value
    that is not a whole number from ``SMALLEST`` to ``LARGEST``, or one given twice."""
    value = given_once(request.query, "longest_side", InvalidInputError)
    if value is None:
        return None
    if re.fullmatch(r"[0-9]{1,5}", value) and SMALLEST <= int(value) <= LARGEST:
        return int(value)
    raise InvalidInputError(
        f"longest_side must be a whole number of pixels from {SMALLEST} to {LARGEST}, got {value[:40]!r}"
    )
