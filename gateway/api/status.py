"""``/v1/status``: the gateway in one document: health, alert delivery (a refused broker login
shows here with the broker's reason while alerts keep accumulating in the outbox), a summary, and
the cameras whose scene changed for good since their anomaly model was learned (``reenroll``: a
parked car became the new normal; enrolling the camera again learns it)."""

from __future__ import annotations

from aiohttp import web

from gateway.api.context import context_of, offload


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/status", status, name="status")


async def status(request: web.Request) -> web.Response:
    state = context_of(request).state
    if state is None:
        raise web.HTTPNotFound(text="this server runs without the camera pipeline: no /v1/status")
    scenes = context_of(request).scenes
    problems, delivery, summary, changes = await offload(
        request,
        lambda: (
            state.health_problems(),
            state.delivery_status(),
            state.summary(),
            scenes.scene_changes() if scenes is not None else (),
        ),
    )
    return web.json_response(
        {
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
        }
    )
