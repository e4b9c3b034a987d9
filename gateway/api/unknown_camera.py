"""The 404 for a camera id the gateway does not run: naming the cameras it runs, and the one likely
meant (a misspelt id, or one a reload renamed), not only the id that was not found."""

from __future__ import annotations

from aiohttp import web

from gateway.api.ports import CameraDirectory
from gateway.suggestions import closest

LISTED = 16
"""Cameras named at most: a gateway may run 256, and a 404 is no camera list (``/v1/cameras`` is)."""


def unknown_camera(camera_id: str, directory: CameraDirectory | None) -> web.HTTPNotFound:
    known = sorted(status.camera_id for status in directory.cameras()) if directory is not None else []
    meant = closest(camera_id, known)
    hint = "" if meant is None else f"did you mean {meant!r}? "
    listed = ", ".join(known[:LISTED]) or "none"
    more = f" and {len(known) - LISTED} more" if len(known) > LISTED else ""
    return web.HTTPNotFound(text=f"unknown camera {camera_id!r} ({hint}cameras: {listed}{more})")
