"""Triton's shared-memory routes, answered for a server without shared memory.

Tensors travel in the request body here (JSON, or the binary tensor data extension); no region can
be registered, so the server metadata lists neither shared-memory extension. A client that asks
anyway (``tritonclient.http``'s ``register_system_shared_memory`` and the like) gets what is true,
in Triton's shapes: the status of the regions is an empty list, unregistering finds nothing to do,
and registering is a 400 that says why, rather than a bare 404 from routes that do not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.api.middlewares import json_error

KINDS = {"systemsharedmemory": "system", "cudasharedmemory": "CUDA"}
"""Triton's route segment for each kind of region, and its name in Triton's messages."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application) -> None:
    for path, kind in KINDS.items():
        for prefix, label in ((f"/v2/{path}", path), (f"/v2/{path}/region/{{region}}", f"{path}_region")):
            app.router.add_get(f"{prefix}/status", _status, name=f"{label}_status")
            for action in ("register", "unregister"):
                app.router.add_post(f"{prefix}/{action}", _handler(kind, action), name=f"{label}_{action}")


async def _status(request: web.Request) -> web.Response:
    region = request.match_info.get("region")
    if region is None:
        return web.json_response([])
    # Triton's answer for a region it does not hold
    return json_error(400, f"Unable to find shared memory region: '{region}'")


def _handler(kind: str, action: str) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        if action == "unregister":
            return web.Response(status=200)  # nothing is registered, so nothing is left registered
        region = request.match_info.get("region")
        if region is None:
            return json_error(400, f"'region name' is necessary to register {kind} shared memory region")
        return json_error(
            400,
            f"failed to register {kind} shared memory region '{region}': this server does not support "
            "shared memory; send the tensors in the request body (JSON or binary tensor data)",
        )

    return answer
