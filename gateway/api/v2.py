"""Open Inference Protocol v2 (KServe / Triton REST): health, metadata, readiness and infer.

Enough of Triton's HTTP surface that ``tritonclient.http`` works unchanged: server and model
metadata, readiness, ``config``, ``repository/index`` (explicit load and unload are refused, as by
Triton polling its repository), the statistics extension (``stats``) and infer with JSON tensors or
the binary tensor data extension (see tensors.py). Model versions are positive
integers in the path; ``/v2/models/{name}`` without a version means what the repository routes it to
(latest or canary); its ``stats`` are every version's, as Triton's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

from aiohttp import web

from gateway.api.context import (
    DEADLINE_HEADER,
    EXECUTOR,
    OFFLOAD_BYTES,
    OFFLOAD_VALUES,
    RUNNING_GRACE_S,
    ApiContext,
    check_deadline,
    check_queue,
    context_of,
    deadline_from,
    parse_version,
    read_body,
)
from gateway.api.json_body import load_json
from gateway.api.middlewares import INFER_PREFIX, JSON_TYPE, expect_continue, json_error
from gateway.api.ports import InferenceBackend, InferenceOutput
from gateway.api.tensors import (
    HEADER_LENGTH,
    InferRequest,
    InferResponse,
    check_against_model,
    encode_infer_response,
    json_output_values,
    parse_infer_request,
    specs_json,
)
from gateway.domain import (
    Duration,
    ModelRef,
    ModelState,
    ModelStatistics,
    ModelVersionStatus,
    TensorSpec,
    ascii_integer,
)
from gateway.errors import DeadlineExceededError, InvalidInputError, ModelNotFoundError
from gateway.web.session import OPEN_PREFIX

SERVER_NAME = "edge-gateway"
EXTENSIONS = ("binary_tensor_data", "model_repository", "statistics")
BINARY_TYPE = "application/octet-stream"


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/v2", server_metadata, name="server_metadata")
    router.add_get("/v2/health/live", live, name=f"{OPEN_PREFIX}live")
    router.add_get("/v2/health/ready", ready, name=f"{OPEN_PREFIX}ready")
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
    )


async def infer(request: web.Request) -> web.StreamResponse:
    call = InferCall(
        name=request.match_info["name"],
        version=version_of(request),
        header_length=request.headers.get(HEADER_LENGTH),
        deadline_header=request.headers.get(DEADLINE_HEADER),
        started=time.monotonic(),
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


@dataclass(frozen=True, slots=True)
class InferCall:
    """A ``POST .../infer`` as its head describes it, to whichever server answers it (aiohttp's
    handler above, or the front door's own for admitted binary requests: door_infer.py)."""

    name: str
    version: int | None
    header_length: str | None
    """``Inference-Header-Content-Length`` as sent (None: a pure JSON body)."""
    deadline_header: str | None
    """``X-Request-Timeout-Ms`` as sent."""
    started: float
    """``time.monotonic()`` when the head was read."""

    @property
    def json_size(self) -> int | None:
        header_length = self.header_length
        return None if header_length is None else ascii_integer(header_length)


async def answer_infer(
    context: ApiContext, executor: Executor, call: InferCall, body: memoryview, holder: object
) -> InferResponse:
    """Parse, check, queue and await one inference request whose body has arrived, and encode its
    answer; raises the errors ``middlewares.error_answer`` maps. ``holder`` holds the request's
    admission reservation, released once it is queued (or failed)."""
    loop = asyncio.get_running_loop()
    json_size = call.json_size
    # Only JSON text is slow to parse; binary tensors are read in place whatever their size, and a
    # hop to the thread pool costs more than that (measured: ~0.3 ms of hand-offs per request).
    if (json_size if json_size is not None else len(body)) > OFFLOAD_BYTES:
        parsed = await loop.run_in_executor(executor, parse_infer_request, body, call.header_length)
    else:
        parsed = parse_infer_request(body, call.header_length)
    deadline = deadline_from(call.deadline_header, call.started)
    status = context.backend.status(call.name, call.version)
    if status.state is ModelState.READY:
        # A version that is not ready may not know its tensors; the backend says why it is not ready.
        check_against_routed(parsed, context.backend, call, status)
    check_deadline(deadline)
    check_queue(context)
    # Triton's ``timeout`` bounds the time in the queue from there, not the request: one that has
    # started runs to its end (X-Request-Timeout-Ms, this server's own, bounds the whole request).
    queued_by = None if parsed.timeout_s is None else time.monotonic() + parsed.timeout_s
    submitted = context.backend.infer(call.name, call.version, parsed.inputs, _earlier(deadline, queued_by))
    context.queue.release(holder)  # queued now, and counted there
    result = await _result(submitted, deadline, queued_by)
    check_outputs_of(parsed, result.model, result.outputs)

    def encode() -> InferResponse:
        return encode_infer_response(
            model_name=result.model.name,
            model_version=result.model.version,
            request=parsed,
            outputs=result.outputs,
        )

    if json_output_values(parsed, result.outputs) > OFFLOAD_VALUES:
        return await loop.run_in_executor(executor, encode)
    return encode()


def _earlier(first: float | None, second: float | None) -> float | None:
    return second if first is None else first if second is None else min(first, second)


async def _result(
    submitted: Future[InferenceOutput], deadline: float | None, queued_by: float | None
) -> InferenceOutput:
    """``context.wait_result``, and DeadlineExceededError when ``queued_by`` passes with the request
    still in the queue (a worker that took it has set it running, which cannot be cancelled)."""
    waiter = asyncio.wrap_future(submitted)
    try:
        if queued_by is not None and (deadline is None or queued_by < deadline):
            await asyncio.wait((waiter,), timeout=max(queued_by - time.monotonic(), 0.0))
            if not waiter.done() and submitted.cancel():
                raise DeadlineExceededError("the request's timeout passed while it waited in the queue")
        if deadline is None:
            return await waiter
        return await asyncio.wait_for(waiter, max(deadline - time.monotonic() + RUNNING_GRACE_S, 0.0))
    except asyncio.TimeoutError as exc:
        submitted.cancel()
        raise DeadlineExceededError("the request's deadline passed before its result was ready") from exc
    finally:
        if not waiter.done():  # the handler was cancelled, or the request left the queue unrun
            waiter.cancel()


def check_against_routed(
    parsed: InferRequest, backend: InferenceBackend, call: InferCall, status: ModelVersionStatus
) -> None:
    """``check_against_model`` against the version ``status`` describes, or for a request without a
    version, also its model's canary: the request is routed after this check, and a canary whose
    tensors differ from the default version's serves what it takes. The backend checks the inputs
    again against the version it draws, and ``check_outputs_of`` the outputs."""
    try:
        check_against_model(parsed, status)
    except InvalidInputError:
        canary = None if call.version is not None else _canary_status(backend, call.name, status.version)
        if canary is None or not _takes(parsed, canary):
            raise  # the default version's refusal: what most of the model's traffic gets


def _takes(parsed: InferRequest, status: ModelVersionStatus) -> bool:
    try:
        check_against_model(parsed, status)
    except InvalidInputError:
        return False
    return True


def check_outputs_of(parsed: InferRequest, ref: ModelRef, outputs: Mapping[str, object]) -> None:
    """InvalidInputError for an output asked for that the version which served the request does not
    give (an unpinned request may have been served by the canary)."""
    for requested in parsed.outputs or ():
        if requested.name not in outputs:
            raise InvalidInputError(
                f"model {ref} has no output {requested.name!r}; outputs: {sorted(outputs)}"
            )


def _canary_status(backend: InferenceBackend, name: str, default_version: int) -> ModelVersionStatus | None:
    """The status of the model's canary while it takes a share of unpinned requests, else None."""
    routing = backend.routing(name)
    version = routing.canary_version
    if version is None or version == default_version or routing.canary_weight <= 0:
        return None
    try:
        canary = backend.status(name, version)
    except ModelNotFoundError:  # routing names a version the repository does not have: never drawn
        return None
    # Only a loaded canary is drawn (routing.choose_version); the default serves its share until then.
    return canary if canary.state is ModelState.READY else None


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
