"""The live picture's ``motion`` option: where the motion gate saw change, outlined over the picture,
to tune ``min_area``, ``threshold`` and the mask by (as Frigate's debug view's motion boxes)."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import InvalidInputError

ON = ("1", "true")
OFF = ("0", "false")


def motion_view(request: web.Request) -> bool:
    """Whether the request asks for the motion outlines; a 400 naming ``motion`` for a value that is
    neither on nor off, or one given twice."""
    values = request.query.getall("motion", [])
    if len(values) > 1:
        raise InvalidInputError(f"motion is given {len(values)} times: give it once")
    if not values or values[0].lower() in OFF:
        return False
    if values[0].lower() in ON:
        return True
    raise InvalidInputError(f"motion must be 1 or 0 (true or false), got {values[0]!r}")
