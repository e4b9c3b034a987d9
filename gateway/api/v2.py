"""Open Inference Protocol v2 (KServe / Triton REST): health, metadata, readiness and infer.

Enough of Triton's HTTP surface that ``tritonclient.http`` works unchanged: server and model
metadata, readiness, ``config``, ``repository/index`` (explicit load and unload are refused, as by
Triton polling its repository), the statistics extension (``stats``), the classification extension
(classification.py), system shared memory (shared_memory.py) and infer with JSON tensors, the
binary tensor data extension or tensors in shared memory (v2_infer.py, tensors.py). Model versions
are positive integers in the path; ``/v2/models/{name}`` without a version means what the
repository routes it to (latest or canary); its ``stats`` are every version's, as Triton's.
"""

from __future__ import annotations

import time
from functools import cache
from importlib import metadata
from typing import Any

from aiohttp import web

from gateway.api import shared_memory
from gateway.api.context import (
    DEADLINE_HEADER,
    EXECUTOR,
    check_deadline,
    context_of,
    deadline_from,
    parse_version,
    read_body,
)
from gateway.api.json_body import load_json
from gateway.api.middlewares import INFER_PREFIX, JSON_TYPE, expect_continue, json_error
from gateway.api.ports import InferenceBackend
from gateway.api.tensors import (
    HEADER_LENGTH,
    specs_json,
)
from gateway.api.v2_infer import InferCall, answer_infer
from gateway.domain import (
    Duration,
    ModelState,
    ModelStatistics,
    TensorSpec,
)
from gateway.errors import InvalidInputError
from gateway.web.session import OPEN_PREFIX

SERVER_NAME = "edge-gateway"
EXTENSIONS = (
    "binary_tensor_data",
    "classification",
    "model_repository",
    "statistics",
    "system_shared_memory",
)
BINARY_TYPE = "application/octet-stream"


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/v2", server_metadata, name="server_metadata")
    router.add_get("/v2/health/live", live, name=f"{OPEN_PREFIX}live")
    router.add_get("/v2/health/ready", ready, name=f"{OPEN_PREFIX}ready")
    shared_memory.add_routes(app)
    router.add_route("*", "/v2/repository/index", repository_index, name="repository_index")
    for action in ("load", "unload"):
        router.add_post(
            f"/v2/repository/models/{{name}}/{action}", repository_control, name=f"model_{action}"
        )
    # Before /v2/models/{name}, as in Triton: a model named "stats" has no metadata route.
    router.add_get("/v2/models/stats", model_statistics, name="statistics")
    for suffix, label in (("", "model"), ("/versions/{version}", "model_version")):
        base = "/v2/models/{name}" + suffix
        router.add_get(base, model_metadata, name=f"{label}_metadata")
        router.add_get(base + "/ready", model_ready, name=f"{label}_ready")
        router.add_get(base + "/config", model_config, name=f"{label}_config")
        router.add_get(base + "/stats", model_statistics, name=f"{label}_statistics")
        router.add_post(base + "/infer", infer, name=f"{INFER_PREFIX}{label}", expect_handler=expect_continue)


def version_of(request: web.Request) -> int | None:
    return parse_version(request.match_info.get("version"))


async def server_metadata(request: web.Request) -> web.Response:
    return web.json_response(
        {"name": SERVER_NAME, "version": server_version(), "extensions": list(EXTENSIONS)}
    )


async def live(request: web.Request) -> web.Response:
    return web.json_response({"live": True})


async def ready(request: web.Request) -> web.Response:
    if context_of(request).backend.ready():
        return web.json_response({"ready": True})
    return json_error(503, "not ready: models are still loading or none could be loaded")


async def repository_index(request: web.Request) -> web.Response:
    if request.method not in ("GET", "POST"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
    # Triton's body: {"ready": true} lists only the versions that can serve.
    body = await read_body(request)
    query = load_json(body, "the repository index request") if len(body) else {}
    ready = query.get("ready", False) if isinstance(query, dict) else None
    if not isinstance(ready, bool):
        raise InvalidInputError(
            "the repository index request must be a JSON object whose 'ready' is true or false"
        )
    entries = [
        {"name": status.name, "version": str(status.version), "state": _triton_state(status.state)}
        | ({"reason": status.reason} if status.reason else {})
        for status in context_of(request).backend.models()
        if status.state is ModelState.READY or not ready
    ]
    return web.json_response(entries)


async def repository_control(request: web.Request) -> web.Response:
    """Triton's explicit load and unload, refused as Triton refuses them while it polls its repository
    (its status and words): models/ is what this server serves, reloaded as its files change."""
    return json_error(
        503,
        "explicit model load / unload is not allowed if polling is enabled: the gateway serves what "
        "its model repository holds and reloads a model when its files change",
    )


async def model_metadata(request: web.Request) -> web.Response:
    backend = context_of(request).backend
    name = request.match_info["name"]
    status = backend.status(name, version_of(request))
    # Version 0 is no version: the status of a model none of whose versions can be routed to.
    versions = sorted(
        ({other.version for other in backend.models() if other.name == name} | {status.version}) - {0}
    )
    body: dict[str, Any] = {
        "name": status.name,
        "versions": [str(version) for version in versions],
        "platform": status.platform,
        "inputs": specs_json(status.inputs),
        "outputs": specs_json(status.outputs),
        "state": status.state.value,
    }
    if status.reason is not None:
        body["reason"] = status.reason
    if status.provider is not None:
        body["parameters"] = {"provider": status.provider, "version": str(status.version)}
    if request.match_info.get("version") is None:
        # An extension field (OIP clients ignore it): where unversioned requests go, for the console.
        routing = backend.routing(name)
        body["routing"] = {
            "default_version": routing.default_version,
            "canary": None
            if routing.canary_version is None
            else {"version": routing.canary_version, "share": routing.canary_weight},
        }
    return web.json_response(body)


async def model_ready(request: web.Request) -> web.Response:
    status = context_of(request).backend.status(request.match_info["name"], version_of(request))
    if status.state is ModelState.READY:
        return web.json_response({"name": status.name, "version": str(status.version), "ready": True})
    reason = f": {status.reason}" if status.reason else ""
    subject = status.ref if status.version else repr(status.name)
    return json_error(503, f"model {subject} is {status.state.value}{reason}", {"Retry-After": "1"})


async def model_statistics(request: web.Request) -> web.Response:
    """Triton's statistics extension: ``model_stats`` for every version asked for."""
    statistics = context_of(request).backend.statistics(request.match_info.get("name"), version_of(request))
    return web.json_response({"model_stats": [_statistics_json(figures) for figures in statistics]})


def _duration_json(duration: Duration) -> dict[str, int]:
    return {"count": duration.count, "ns": duration.ns}


def _statistics_json(figures: ModelStatistics) -> dict[str, Any]:
    never = _duration_json(Duration())  # no response cache
    return {
        "name": figures.ref.name,
        "version": str(figures.ref.version),
        "last_inference": figures.last_inference_ms,
        "inference_count": figures.inference_count,
        "execution_count": figures.execution_count,
        "inference_stats": {
            "success": _duration_json(figures.success),
            "fail": _duration_json(figures.fail),
            "queue": _duration_json(figures.queue),
            "compute_input": _duration_json(figures.compute_input),
            "compute_infer": _duration_json(figures.compute_infer),
            "compute_output": _duration_json(figures.compute_output),
            "cache_hit": never,
            "cache_miss": never,
        },
        "batch_stats": [
            {
                "batch_size": batch.batch_size,
                "compute_input": _duration_json(batch.compute_input),
                "compute_infer": _duration_json(batch.compute_infer),
                "compute_output": _duration_json(batch.compute_output),
            }
            for batch in figures.batches
        ],
    }


async def model_config(request: web.Request) -> web.Response:
    """Triton's model configuration shape, for clients that read ``max_batch_size`` and dims."""
    status = context_of(request).backend.status(request.match_info["name"], version_of(request))
    batched = status.max_batch_size > 0
    return web.json_response(
        {
            "name": status.name,
            "platform": status.platform,
            "backend": "onnxruntime",
            "max_batch_size": status.max_batch_size,
            "input": [_config_tensor(spec, batched) for spec in status.inputs],
            "output": [_config_tensor(spec, batched) for spec in status.outputs],
            "version_policy": {"specific": {"versions": [status.version] if status.version else []}},
        }
        | _dynamic_batching(context_of(request).backend, batched)
    )


def _dynamic_batching(backend: InferenceBackend, batched: bool) -> dict[str, Any]:
    """Triton's ``dynamic_batching`` section, as its /config lists it for a model with a dynamic
    batcher, from what this server's batcher does: one queue for every model (``max_queue_size``
    is its capacity), no priority levels, no preferred sizes, answers not held back for order, and
    a request's ``timeout`` taken (``allow_timeout_override``) with none by default."""
    if not batched:
        return {}
    delay_s, capacity = backend.queue_settings()
    return {
        "dynamic_batching": {
            "preferred_batch_size": [],
            "max_queue_delay_microseconds": round(delay_s * 1_000_000),
            "preserve_ordering": False,
            "priority_levels": 0,
            "default_priority_level": 0,
            "default_queue_policy": {
                "timeout_action": "REJECT",
                "default_timeout_microseconds": 0,
                "allow_timeout_override": True,
                "max_queue_size": capacity,
            },
            "priority_queue_policy": {},
        }
    }


async def infer(request: web.Request) -> web.StreamResponse:
    call = InferCall(
        name=request.match_info["name"],
        version=version_of(request),
        header_length=request.headers.get(HEADER_LENGTH),
        deadline_header=request.headers.get(DEADLINE_HEADER),
        started=time.monotonic(),
        remote=request.remote,
    )
    check_deadline(deadline_from(call.deadline_header, call.started))
    body = await read_body(request, align_at=call.json_size or 0)
    answer = await answer_infer(context_of(request), request.app[EXECUTOR], call, body, holder=request)
    json_length = answer.json_length
    if json_length is None:
        return web.Response(body=answer.header, content_type=JSON_TYPE)
    # The tensors go to the socket from the output arrays themselves: web.Response would join them
    # into one body, and aiohttp joins that with the headers again (two copies of every output).
    response = web.StreamResponse(headers={HEADER_LENGTH: str(json_length)})
    response.content_type = BINARY_TYPE
    response.content_length = answer.size
    await response.prepare(request)
    await response.write(answer.header)
    for tensor in answer.tensors:
        await response.write(tensor)
    await response.write_eof()
    return response


def _config_tensor(spec: TensorSpec, batched: bool) -> dict[str, Any]:
    dims = spec.shape[1:] if batched else spec.shape
    return {"name": spec.name, "data_type": f"TYPE_{spec.datatype.value}", "dims": list(dims)}


def _triton_state(state: ModelState) -> str:
    return {ModelState.READY: "READY", ModelState.LOADING: "LOADING", ModelState.FAILED: "UNAVAILABLE"}.get(
        state, "UNAVAILABLE"
    )


@cache
def server_version() -> str:
    try:
        return metadata.version(SERVER_NAME)
    except metadata.PackageNotFoundError:
        return "unknown"
