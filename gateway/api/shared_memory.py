"""Triton's shared-memory routes: system shared memory registered, listed and unregistered
(shared_memory_regions.py), CUDA shared memory answered for a server that has none.

``tritonclient.http``'s ``register_system_shared_memory``, ``get_system_shared_memory_status`` and
``unregister_system_shared_memory`` work unchanged, in Triton's shapes: a status is a list of
``{"name", "key", "offset", "byte_size"}``, unregistering a region that is not registered is no
error, and registering one whose object is missing, too small or not this server's to open is a 400
that says which. The objects are this host's: only a client on it (a loopback address) registers,
lists or unregisters regions; any other is refused with a 403 that says so. CUDA IPC handles are
not read here (no GPU path takes them): its status is an empty list and registering is a 400 that
says to use system shared memory or the body.
"""

from __future__ import annotations

from aiohttp import web

from gateway.api.context import context_of, read_body
from gateway.api.json_body import load_json
from gateway.api.middlewares import json_error
from gateway.api.shared_memory_regions import on_this_host
from gateway.errors import InvalidInputError

KINDS = {"systemsharedmemory": "system", "cudasharedmemory": "CUDA"}
"""Triton's route segment for each kind of region, and its name in Triton's messages."""


def add_routes(app: web.Application) -> None:
    for path, kind in KINDS.items():
        system = kind == "system"
        for prefix, label in ((f"/v2/{path}", path), (f"/v2/{path}/region/{{region}}", f"{path}_region")):
            app.router.add_get(
                f"{prefix}/status", _status if system else _no_cuda_status, name=f"{label}_status"
            )
            app.router.add_post(
                f"{prefix}/register", _register if system else _no_cuda_register, name=f"{label}_register"
            )
            app.router.add_post(
                f"{prefix}/unregister",
                _unregister if system else _no_cuda_unregister,
                name=f"{label}_unregister",
            )


def _elsewhere(request: web.Request) -> web.Response | None:
    """The 403 for a client that is not on this host, whose shared memory cannot be this host's."""
    if on_this_host(request.remote):
        return None
    return json_error(
        403,
        f"system shared memory is this host's: only a client on it (a loopback address) may use "
        f"these routes, not {request.remote or 'an unknown address'}",
    )


async def _status(request: web.Request) -> web.Response:
    refused = _elsewhere(request)
    if refused is not None:
        return refused
    return web.json_response(context_of(request).regions.status(request.match_info.get("region")))


async def _register(request: web.Request) -> web.Response:
    refused = _elsewhere(request)
    if refused is not None:
        return refused
    region = request.match_info.get("region")
    if region is None:
        return json_error(400, "'region name' is necessary to register system shared memory region")
    body = load_json(await read_body(request), "the register request")
    if not isinstance(body, dict):
        raise InvalidInputError(
            "the register request must be a JSON object with 'key', 'offset' and 'byte_size'"
        )
    missing = [field for field in ("key", "byte_size") if field not in body]
    if missing:
        raise InvalidInputError(
            f"failed to register shared memory region '{region}': '{missing[0]}' is needed"
        )
    context_of(request).regions.register(region, body["key"], body.get("offset", 0), body["byte_size"])
    return web.Response(status=200)


async def _unregister(request: web.Request) -> web.Response:
    refused = _elsewhere(request)
    if refused is not None:
        return refused
    context_of(request).regions.unregister(request.match_info.get("region"))
    return web.Response(status=200)


async def _no_cuda_status(request: web.Request) -> web.Response:
    region = request.match_info.get("region")
    if region is None:
        return web.json_response([])
    # Triton's answer for a region it does not hold
    return json_error(400, f"Unable to find cuda shared memory region: '{region}'")


async def _no_cuda_register(request: web.Request) -> web.Response:
    region = request.match_info.get("region")
    if region is None:
        return json_error(400, "'region name' is necessary to register CUDA shared memory region")
    return json_error(
        400,
        f"failed to register CUDA shared memory region '{region}': this server reads no CUDA IPC "
        "handles; use system shared memory (/v2/systemsharedmemory) or send the tensors in the body",
    )


async def _no_cuda_unregister(request: web.Request) -> web.Response:
    return web.Response(status=200)  # nothing is registered, so nothing is left registered
