"""``/v1/status``: the gateway in one document: health, alert delivery (a refused broker login
shows here with the broker's reason while alerts keep accumulating in the outbox), a summary,
the facts the console's system page shows (device id, version, uptime, outbox size), and the cameras
whose scene changed for good since their anomaly model was learned (``reenroll``: a parked car
became the new normal; enrolling the camera again learns it), and the cameras whose anomaly frames
are not scored because they do not match what the model was enrolled on (``anomaly_unscored``: a
camera in night infrared, or on a stream of another aspect). The latter is information, not a
health problem: a camera that switches to infrared every night must not make the gateway unhealthy
every night."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from gateway.api.context import context_of, offload
from gateway.api.v2 import server_version


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/status", status, name="status")


async def status(request: web.Request) -> web.Response:
    context = context_of(request)
    state = context.state
    system = context.system
    scenes = context.scenes
    if state is None:
        raise web.HTTPNotFound(text="this server runs without the camera pipeline: no /v1/status")
    # The facts first: an outbox they cannot read is then among the problems of this same answer.
    facts, problems, delivery, summary, changes, unscored = await offload(
        request,
        lambda: (
            system.system_facts() if system is not None else None,
            state.health_problems() + state.degraded() + context.connections.problems(),
            state.delivery_status(),
            state.summary(),
            scenes.scene_changes() if scenes is not None else (),
            dict(scenes.frame_mismatches()) if scenes is not None else {},
        ),
    )
    body: dict[str, Any] = {"version": server_version()}
    if facts is not None:
        body |= {
            "device_id": facts.device_id,
            "started_at": facts.started_at(time.time()),
            "uptime_s": round(facts.uptime_s, 1),
            "outbox": {"stored": facts.outbox_stored, "pending": facts.outbox_pending},
        }
    return web.json_response(
        body
        | {
            "healthy": not problems,
            "problems": problems,
            "summary": summary,
            "delivery": {
                "broker": delivery.broker,
                "state": delivery.state.value,
                "last_error": delivery.last_error,
                "last_seq": delivery.last_seq,
                "last_acked_seq": delivery.last_acked_seq,
                "inflight": delivery.inflight,
                "connected_since": delivery.connected_since,
            },
            "reenroll": [
                {
                    "camera": change.camera_id,
                    "since": change.since,
                    "changed_share": round(change.share, 4),
                    "box": list(change.box),
                    "command": f"edge-gateway enroll --camera {change.camera_id}",
                }
                for change in changes
            ],
            "anomaly_unscored": [
                {"camera": camera_id, "reason": reason} for camera_id, reason in sorted(unscored.items())
            ],
        }
    )
