"""The live picture's ``motion`` option: where the motion gate saw change, outlined over the picture,
to tune ``min_area``, ``threshold`` and the mask by (as Frigate's debug view's motion boxes)."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import InvalidInputError
from gateway.web.query import given_once

ON = ("1", "true")
OFF = ("0", "false")


def motion_view(request: web.Request) -> bool:
    """Whether the request asks for the motion outlines; a 400 naming ``motion`` for a value that is
    neither on nor off, or one given twice."""
    value = given_once(request.query, "motion", InvalidInputError)
    if value is None or value.lower() in OFF:
        return False
    if value.lower() in ON:
        return True
    raise InvalidInputError(f"motion must be 1 or 0 (true or false), got {value!r}")
