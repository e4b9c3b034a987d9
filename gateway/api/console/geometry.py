"""``GET/PUT /v1/cameras/{id}/geometry``: a camera's zones, counting lines and motion mask, for the
editor.

``PUT`` takes ``{"zones": [...], "lines": [...]}`` in the config file's own shapes, and ``"mask"``
(the outlines of ``motion.mask``) when the mask is to change too: without it the file's mask stays
as written. Each item is checked with the config models first (400 naming the item, a zone or line
by its name; a mask as the camera's ``motion`` section would hold it, so one covering the whole
frame while gating is on is refused), then the whole config with the new geometry (400 with the
file's problems, e.g. a rule naming a zone that was deleted); only a config that validates is
written back and applied. 409 when the running config is not a writable file, or when the camera has
a change that waits for a restart (``gateway.pipeline.camera_changes``): until then it keeps its
previous zones and lines, so a save would answer 200 and change nothing. ``GET`` reports either as
the editor's ``read_only_reason``. A config file that does not answer in time (a hung network mount:
``gateway.pipeline.config_file``) makes a ``PUT`` a 503 naming the file, and ``GET`` read-only with
that as its reason; the editor's look at the file is made off the event loop.

A saved ``PUT``'s answer adds ``pending_restart``: the lines ``/v1/status`` shows for what the file
asks that the save's reload could not apply (another camera's source, a camera added or removed,
``http.port``; empty when all applied), as ``GatewayState.pending_restart`` gives them.

``GET`` also answers the geometry's ``version`` (a digest of its zones, lines and mask),
``motion_gating``: whether the camera gates on motion at all (a mask does nothing while it does
not), and ``max_polygon_points``: the most corners a zone or a mask outline may have. A ``PUT`` that
sends the version back (``"version"``, optional) is refused with 409 when the camera's geometry
changed since (saved from another tab, or the file reloaded), rather than silently undoing that
change; the check and the save are one step per app, so two saves made at once cannot both pass it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gateway.api.context import context_of, offload, read_body
from gateway.api.json_body import load_json
from gateway.api.ports import ConfigReadOnlyError, GatewayState, GeometryEditor
from gateway.api.unknown_camera import unknown_camera
from gateway.config import CameraConfig, LineConfig, MotionConfig, Point, ZoneConfig
from gateway.config.bounded_read import HungFileError
from gateway.config.camera import MAX_LINES, MAX_MOTION_MASKS, MAX_ZONES
from gateway.config.loading import error_location
from gateway.config.locations import format_path
from gateway.config.unknown_keys import error_message
from gateway.config.zones import MAX_ZONE_VERTICES
from gateway.errors import ConfigError, InvalidInputError

GEOMETRY_KEYS = frozenset({"zones", "lines"})
OPTIONAL_KEYS = frozenset({"version", "mask"})
MAX_BODY_BYTES = 1024 * 1024
"""Zones and lines of one camera; far more than any hand-drawn geometry needs."""


SAVING: web.AppKey[asyncio.Lock] = web.AppKey("edge_gateway_console_geometry_saving", asyncio.Lock)


def add_routes(app: web.Application) -> None:
    app[SAVING] = asyncio.Lock()
    app.router.add_get("/v1/cameras/{camera_id}/geometry", get_geometry, name="camera_geometry")
    app.router.add_put("/v1/cameras/{camera_id}/geometry", put_geometry, name="camera_geometry_put")


def _shapes(camera: CameraConfig) -> dict[str, Any]:
    return {
        "zones": [zone.model_dump(mode="json") for zone in camera.zones],
        "lines": [line.model_dump(mode="json") for line in camera.lines],
        "mask": [[list(point) for point in outline] for outline in camera.motion.mask],
    }


def geometry_version(camera: CameraConfig) -> str:
    """A digest of the camera's zones, lines and mask: equal versions, equal geometry."""
    canonical = json.dumps(_shapes(camera), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def geometry_json(camera: CameraConfig, read_only_reason: str | None) -> dict[str, Any]:
    return {
        "camera": camera.id,
        **_shapes(camera),
        "version": geometry_version(camera),
        "motion_gating": camera.motion.enabled,
        # The editor stops adding corners here, saying so, rather than have a save refuse the drawing.
        "max_polygon_points": MAX_ZONE_VERTICES,
        # The editor warns before deleting a zone or line a rule still names, and the camera page
        # says what each rule looks for.
        "rules": [
            {
                "name": rule.name,
                "type": rule.type,
                "labels": rule.labels,
                "zones": rule.zones,
                "exclude_zones": rule.exclude_zones,
                "line": rule.line,
                "direction": rule.direction,
                "min_score": rule.min_score,
                "min_s": rule.min_s,
                "min_count": rule.min_count,
            }
            for rule in camera.rules
        ],
        "editable": read_only_reason is None,
        "read_only_reason": read_only_reason,
    }


def _editor(request: web.Request) -> tuple[GeometryEditor, CameraConfig]:
    camera_id = request.match_info["camera_id"]
    editor = context_of(request).geometry
    camera = editor.camera_config(camera_id) if editor is not None else None
    if editor is None or camera is None:
        raise unknown_camera(camera_id, context_of(request).cameras)
    return editor, camera


async def _read_only_reason(request: web.Request, editor: GeometryEditor, camera_id: str) -> str | None:
    """The editor's ``read_only_reason``, off the event loop: it looks at the file (``stat``,
    ``access``), which hangs on a hung mount, and every request and SIGTERM would wait behind it.
    HungFileError when the look did not finish in time."""
    return await offload(request, lambda: editor.read_only_reason(camera_id))


async def _shown_reason(request: web.Request, editor: GeometryEditor, camera_id: str) -> str | None:
    """``_read_only_reason`` as the editor shows it: a file that does not answer in time is itself
    the reason. The geometry in force is known without the file; only saving it needs the file."""
    try:
        return await _read_only_reason(request, editor, camera_id)
    except HungFileError as exc:
        return str(exc)


async def get_geometry(request: web.Request) -> web.Response:
    editor, camera = _editor(request)
    reason = await _shown_reason(request, editor, camera.id)
    return web.json_response(geometry_json(camera, reason))


async def put_geometry(request: web.Request) -> web.Response:
    editor, camera = _editor(request)
    try:
        reason = await _read_only_reason(request, editor, camera.id)
    except HungFileError as exc:
        raise _unavailable(exc) from exc
    if reason is not None:
        raise web.HTTPConflict(text=reason)
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, request.content_length or 0)
    document = load_json(await read_body(request))
    if not isinstance(document, dict) or not GEOMETRY_KEYS <= set(document) <= GEOMETRY_KEYS | OPTIONAL_KEYS:
        raise InvalidInputError(
            'the body must be {"zones": [...], "lines": [...]}, with the "mask" to save and the '
            '"version" it was loaded at or without them, and nothing else'
        )
    zones_given = _listed(document["zones"], "zones", MAX_ZONES)
    lines_given = _listed(document["lines"], "lines", MAX_LINES)
    mask_given = _listed(document["mask"], "mask", MAX_MOTION_MASKS) if "mask" in document else None
    # Checked off the event loop: a zone's self-crossing check is some 0.5 ms, and every request
    # would wait on a body of hundreds of them.
    zones, lines, mask = await offload(
        request,
        lambda: (
            _items(zones_given, "zones", ZoneConfig),
            _items(lines_given, "lines", LineConfig),
            None if mask_given is None else _mask(mask_given, camera.motion),
        ),
    )
    loaded = document.get("version")
    if loaded is not None and not isinstance(loaded, str):
        raise InvalidInputError(f"version must be the string GET answered, not {json.dumps(loaded)[:40]}")

    def still_loaded(seen: CameraConfig | None, on_disk: bool) -> None:
        if loaded is None or loaded == geometry_version(seen or camera):
            return
        if on_disk:
            # Revert loads the running geometry again, which is the one the editor has: only a
            # reload brings the file's in.
            raise web.HTTPConflict(
                text=f"the config file has a change to the zones, lines or motion mask of camera "
                f"{camera.id!r} that is not applied (edited by hand, its reload still to come); nothing "
                "was saved: reload the config (systemctl reload edge-gateway), then Revert and make the "
                "change again"
            )
        raise web.HTTPConflict(
            text=f"the zones, lines or motion mask of camera {camera.id!r} changed after this "
            "editor loaded them (saved from another tab, or the config file reloaded); nothing was "
            "saved: Revert to load them, then make the change again"
        )

    try:
        async with request.app[SAVING]:
            # Checked by the save itself: a reload under way (it reads the file for a quarter of a
            # second at least) applies a hand edit of the geometry before the save can overwrite it.
            saved = await offload(
                request, lambda: editor.save_geometry(camera.id, zones, lines, mask, still_loaded)
            )
    except ConfigReadOnlyError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    except HungFileError as exc:
        raise _unavailable(exc) from exc
    except ConfigError as exc:
        raise InvalidInputError("; ".join(str(problem) for problem in exc.problems)) from exc
    pending = await offload(request, lambda: pending_restart(context_of(request).state))
    # Saved and applied; the file may have stopped answering since.
    after = await _shown_reason(request, editor, saved.id)
    return web.json_response({**geometry_json(saved, after), "pending_restart": pending})


def _unavailable(exc: HungFileError) -> web.HTTPServiceUnavailable:
    return web.HTTPServiceUnavailable(
        text=f"the config file did not answer in time, try again later: {exc}", headers={"Retry-After": "10"}
    )


def pending_restart(state: GatewayState | None) -> list[str]:
    """The lines ``/v1/status`` shows for changes the file asks for that wait for a restart (another
    camera's source, a camera added, ``http.port``, ...): the save's reload applied the rest, and
    the editor says so rather than let a saved file read as all in force."""
    return state.pending_restart() if state is not None else []


def _listed(value: object, key: str, most: int) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInputError(f"{key} must be a list")
    if len(value) > most:
        raise InvalidInputError(f"{key}: {len(value)} given, a camera has at most {most}")
    return value


def _mask(value: list[Any], motion: MotionConfig) -> list[list[Point]]:
    """``value`` checked as the camera's ``motion.mask``, with the rest of its motion settings."""
    try:
        checked = MotionConfig.model_validate({**motion.model_dump(), "mask": value})
    except ValidationError as exc:
        details = []
        for error in exc.errors():
            location = error_location(error)
            # mask[outline][point][coordinate], as a JSON path: "mask[0]: 1.0" read as a number.
            within = "".join(f"[{part}]" for part in location[1:])
            details.append(f"mask{within}: {error_message(error, MotionConfig, location)}")
        raise InvalidInputError("; ".join(details)) from exc
    return [list(outline) for outline in checked.mask]


def _items(value: list[Any], key: str, model: type[ZoneConfig] | type[LineConfig]) -> list[Any]:
    items = []
    for index, item in enumerate(value):
        try:
            items.append(model.model_validate(item))
        except ValidationError as exc:
            errors = exc.errors()
            label = _label(item, key, errors)
            details = []
            for error in errors:
                location = error_location(error)
                message = error_message(error, model, location)
                if label is None:
                    details.append(f"{format_path((key, index, *location))}: {message}")
                elif location:
                    details.append(f"{label}: {format_path(location)}: {message}")
                else:
                    # A check of the whole zone may name it itself ("zone 'yard' crosses itself").
                    details.append(message if message.startswith(label) else f"{label}: {message}")
            raise InvalidInputError("; ".join(details)) from exc
    return items


def _label(item: object, key: str, errors: Sequence[ErrorDetails]) -> str | None:
    """How a problem names the zone or line ``item`` of ``key``: by its name (``zone 'yard'``), as
    the editor shows it, where ``zones[1]`` named a place in a list the editor does not show; None
    when its name is itself a problem."""
    name = item.get("name") if isinstance(item, dict) else None
    if not isinstance(name, str) or any(error_location(error)[:1] == ("name",) for error in errors):
        return None
    return f"{key.removesuffix('s')} {name!r}"
