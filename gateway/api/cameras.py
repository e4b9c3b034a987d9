"""``/v1/cameras`` and ``/v1/events``: what the cameras are doing and the alerts they raised.

Both read through the narrow ports the app factory was given; a gateway started without cameras
or without an event log answers with an empty list (and 404 for a named camera).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.context import context_of, offload
from gateway.api.detect import detection_json
from gateway.api.motion_view import motion_view
from gateway.api.picture_size import longest_side_asked
from gateway.api.unknown_camera import unknown_camera
from gateway.domain import CameraStatus, ascii_integer
from gateway.errors import InvalidInputError
from gateway.protocol.alerts import MAX_SEQ, alert_to_dict
from gateway.web.query import given_once, time_bounds, unknown_parameter

DEFAULT_EVENTS = 100
MAX_EVENTS = 1000
EVENTS_PARAMETERS = ("limit", "camera", "rule", "label", "since", "until", "before")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/cameras", list_cameras, name="cameras")
    app.router.add_get("/v1/cameras/{camera_id}", get_camera, name="camera")
    app.router.add_get("/v1/cameras/{camera_id}/snapshot.jpg", snapshot, name="camera_snapshot")
    app.router.add_get("/v1/events", list_events, name="events")


def camera_json(status: CameraStatus) -> dict[str, Any]:
    return {
        "id": status.camera_id,
        "url": status.url,
        "state": status.state.value,
        "fps_in": status.fps_in,
        "fps_processed": status.fps_processed,
        "drops": {reason.value: count for reason, count in status.drops.items()},
        "reconnects": status.reconnects,
        "last_error": status.last_error,
        "last_frame_at": status.last_frame_at,
        "detections": [detection_json(detection) for detection in status.detections],
        "motion": None
        if status.motion_min_area is None
        else {"changed": status.motion_changed, "min_area": status.motion_min_area},
    }


async def list_cameras(request: web.Request) -> web.Response:
    directory = context_of(request).cameras
    cameras = directory.cameras() if directory is not None else ()
    return web.json_response({"cameras": [camera_json(status) for status in cameras]})


async def get_camera(request: web.Request) -> web.Response:
    camera_id = request.match_info["camera_id"]
    directory = context_of(request).cameras
    status = directory.camera(camera_id) if directory is not None else None
    if status is None:
        raise unknown_camera(camera_id, directory)
    return web.json_response(camera_json(status))


async def snapshot(request: web.Request) -> web.Response:
    camera_id = request.match_info["camera_id"]
    directory = context_of(request).cameras
    if directory is None or directory.camera(camera_id) is None:
        raise unknown_camera(camera_id, directory)
    motion = motion_view(request)
    longest_side = longest_side_asked(request)
    # Drawing boxes and encoding a JPEG takes milliseconds: off the event loop.
    jpeg = await offload(
        request, lambda: directory.snapshot_jpeg(camera_id, motion=motion, longest_side=longest_side)
    )
    if jpeg is None:
        raise web.HTTPNotFound(text=f"camera {camera_id!r} has not delivered a frame yet")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _once(request: web.Request, name: str) -> str | None:
    return given_once(request.query, name, InvalidInputError)


async def list_events(request: web.Request) -> web.Response:
    unknown = unknown_parameter(request.query, "/v1/events", EVENTS_PARAMETERS)
    if unknown is not None:
        raise InvalidInputError(unknown)
    given_limit = _once(request, "limit")
    raw_limit = str(DEFAULT_EVENTS) if given_limit is None else given_limit
    limit = ascii_integer(raw_limit)
    if limit is None or not 1 <= limit <= MAX_EVENTS:
        raise InvalidInputError(f"limit must be an integer from 1 to {MAX_EVENTS}, got {raw_limit!r}")
    camera_id = _once(request, "camera") or None
    rule = _once(request, "rule") or None
    label = _once(request, "label") or None
    raw_before = _once(request, "before")
    before_seq = None if raw_before is None else ascii_integer(raw_before)
    if raw_before is not None and (before_seq is None or not 1 <= before_seq <= MAX_SEQ):
        raise InvalidInputError(f"before must be a seq from 1 to {MAX_SEQ}, got {raw_before!r}")
    try:
        since, until = time_bounds(_once(request, "since"), _once(request, "until"))
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    log = context_of(request).events
    if log is None:
        return web.json_response({"events": [], "next_before": None})
    # One more than asked says whether an older page exists, so the last page says it is the last.
    alerts = await offload(
        request,
        lambda: log.recent_alerts(
            limit + 1, camera_id, before_seq=before_seq, rule=rule, label=label, since=since, until=until
        ),
    )
    shown = alerts[:limit]
    next_before = shown[-1].seq if len(alerts) > limit else None
    return web.json_response(
        {"events": [alert_to_dict(alert) for alert in shown], "next_before": next_before}
    )
