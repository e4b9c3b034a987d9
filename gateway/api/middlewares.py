"""The one middleware every request passes, ``boundary``: the error boundary and the guard.

It times the request, turns every error into a JSON body ``{"error": ...}`` with the right status,
and records the metrics; an unexpected exception is logged with its stack and answered 500, so no
request can take the process down. Inside that, the guard decides, from the headers alone and
before any body is read, whether a request may proceed: without tokens, its ``Host`` (421 for
a name other than the loopback's, ``gateway.web.host_check``), then bearer token, then the client's
token bucket (429), then for inference routes the backend queue's high watermark (503) and the
wait a worker would make it wait (503 past its budget, see admission.QueueAdmission), with
``Retry-After`` on every 429 and 503. A rejection costs a few dictionary lookups, a short walk over
the queue and a small JSON response, well under the 2 ms budget.
Inference routes also run the same checks as their ``Expect: 100-continue`` handler, so a client
that asks first is turned away before it uploads the tensor at all.

One middleware, not two nested ones: every resumption of a handler's coroutine (each chunk of a
body, the result's arrival) passes through every middleware's frame, and the event loop's CPU per
request is what the inference workers lose (bench/request_cpu.py measures it).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import HttpVersion11, web
from aiohttp.typedefs import Handler

from gateway.api.context import FRONT_DOOR, ApiContext, context_of, release_admission
from gateway.api.metrics import UNMATCHED_ROUTE
from gateway.domain import ModelReference
from gateway.errors import (
    DeadlineExceededError,
    GatewayError,
    InvalidInputError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    OutboxError,
    OverloadedError,
)
from gateway.thread_limit import thread_not_started
from gateway.web.host_check import MISDIRECTED
from gateway.web.session import OPEN_PREFIX, RefusedError, check_origin

logger = logging.getLogger(__name__)

INFER_PREFIX = "infer:"
"""Route names starting with this queue work for the models, so the queue watermark applies."""
JSON_TYPE = "application/json"
CLIENT_CLOSED_REQUEST = 499
"""Recorded (as nginx does) for a request whose client went away before the answer."""
OUTBOX_RETRY_AFTER_S = 5
"""An outbox read that failed: the audit service's wait for a store it cannot read."""
THREAD_RETRY_AFTER_S = 5
"""A request whose thread was refused: the task or memory limit does not pass at once."""


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    response = web.Response(
        status=status, body=json.dumps({"error": message}).encode(), content_type=JSON_TYPE
    )
    if headers:
        response.headers.update(headers)
    return response


def retry_after(seconds: float) -> dict[str, str]:
    # Retry-After takes whole seconds; rounding up never invites a client back too early.
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def error_response(exc: Exception, request: web.Request) -> web.Response:
    """Map an exception to its HTTP answer; see the table in gateway/errors.py."""
    status, message, headers = error_answer(exc, request.method, request.path)
    return json_error(status, message, headers)


def error_answer(exc: Exception, method: str, path: str) -> tuple[int, str, Mapping[str, str]]:
    """``error_response``'s status, message and headers, for a server that is not aiohttp's (the
    front door's); ``method`` and ``path`` name the request in the log."""
    if isinstance(exc, web.HTTPException):
        headers = {
            key: value for key, value in exc.headers.items() if key.lower() in ("allow", "retry-after")
        }
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return exc.status, message or exc.reason, headers
    if isinstance(exc, InvalidInputError):
        return 400, str(exc), {}
    if isinstance(exc, ModelNotFoundError):
        return 404, str(exc), {}
    if isinstance(exc, OverloadedError):
        return 503, str(exc), retry_after(exc.retry_after_s)
    if isinstance(exc, (ModelNotReadyError, ModelLoadError)):
        return 503, str(exc), retry_after(1.0)
    if isinstance(exc, DeadlineExceededError):
        return 504, str(exc), {}
    if isinstance(exc, ConnectionResetError):
        # The client hung up mid-request (aiohttp fails the body read with "Connection lost"): nobody
        # is left to answer and nothing failed here, so no traceback and no unexpected-error count.
        return CLIENT_CLOSED_REQUEST, "the client closed the connection", {}
    if isinstance(exc, OutboxError):
        # Logged once where the read failed (``gateway.pipeline.outbox_read_failures``), not at every
        # request: a damaged file fails every read that reaches it. As the audit service answers a
        # store it cannot read: a 503 in words, not an internal error, with its Retry-After (every
        # 503 of the API has one).
        return 503, f"the outbox cannot be read: {exc}", {"Retry-After": str(OUTBOX_RETRY_AFTER_S)}
    if isinstance(exc, GatewayError):
        logger.error("%s %s failed: %s", method, path, exc)
        return 500, f"{type(exc).__name__}: {exc}", {}
    refused = thread_not_started(exc)
    if refused is not None:
        # A limit of the machine's, not a fault of the request's or the code's: a 503 in words, with
        # no stack, that passes when the limit does.
        logger.warning("%s %s failed: %s", method, path, refused)
        return 503, refused, retry_after(THREAD_RETRY_AFTER_S)
    logger.exception("unexpected error answering %s %s", method, path)
    return 500, f"internal error ({type(exc).__name__}); the server log has the details", {}


def count_failure(context: ApiContext, exc: Exception, status: int) -> None:
    """The counters a failed request moves, besides the request metrics every answer moves."""
    if status == 500:
        context.metrics.errors.inc()
    elif isinstance(exc, OverloadedError):
        context.metrics.rejections.labels("overloaded").inc()
    elif isinstance(exc, DeadlineExceededError):
        context.metrics.rejections.labels("deadline").inc()


@web.middleware
async def boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    request.app[FRONT_DOOR].started(request)
    context = context_of(request)
    route = request.match_info.route
    name = route.name or ""
    try:
        rejection = _rejection(request, name)
        response = rejection if rejection is not None else await handler(request)
    except Exception as exc:  # the one place every failure becomes an HTTP answer
        response = error_response(exc, request)
        count_failure(context, exc, response.status)
        if response.status == 408:
            # The rest of a stalled body is never read: aiohttp would otherwise wait to drain it.
            response.force_close()
    finally:
        release_admission(request)
    resource = route.resource
    context.metrics.observe(
        resource.canonical if resource is not None else UNMATCHED_ROUTE,
        request.method,
        response.status,
        time.perf_counter() - started,
    )
    request.app[FRONT_DOOR].finished(request)
    return response


def _rejection(request: web.Request, name: str) -> web.Response | None:
    """The guard: the answer that turns the request away before its handler runs, if any."""
    misdirected = host_rejection(request)
    if misdirected is not None:
        return misdirected
    if name.startswith(OPEN_PREFIX):
        return None  # probes are always answered
    if name.startswith(INFER_PREFIX) and _expects_continue(request):
        # An inference request that asked ``Expect: 100-continue`` was admitted by
        # ``expect_continue`` before its body was sent, and takes no second token.
        return None
    return admission_rejection(request, name)


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """Admission for clients that send ``Expect: 100-continue`` (curl does for bodies over 1 MiB):
    they are turned away before uploading a tensor, so a rejection costs neither side the body.
    Runs before the middlewares, so it records its own metrics; a rejected connection is closed,
    as the client may not send the body it announced."""
    started = time.perf_counter()
    if request.version != HttpVersion11 or not _expects_continue(request):
        return _observed(
            request, started, json_error(417, f"unsupported Expect: {request.headers['Expect']}")
        )
    rejection = host_rejection(request) or admission_rejection(request, request.match_info.route.name or "")
    if rejection is not None:
        rejection.force_close()
        return _observed(request, started, rejection)
    try:
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    except BaseException:
        # The client left: the handler and its middleware, which would give the place back, never run.
        release_admission(request)
        raise
    request.writer.output_size = 0
    return None


def host_rejection(request: web.Request) -> web.Response | None:
    """421 for a request whose ``Host`` a server without tokens does not answer (a page of another
    site, its name pointed at this machine); None when it may proceed."""
    context = context_of(request)
    problem = context.hosts.misdirected_request(request.headers.get("Host"), request.host)
    if problem is None:
        return None
    context.metrics.rejections.labels("misdirected").inc()
    return json_error(MISDIRECTED, problem)


def admission_rejection(request: web.Request, name: str) -> web.Response | None:
    """From the headers alone: 401, 403 (a console request failing the CSRF check), 429, 503 (queue
    above the watermark, inference routes) or 413; None when the request may proceed."""
    context = context_of(request)
    client = context.tokens.client_of(request.headers.get("Authorization"))
    if client is None:
        # No bearer token: a console session cookie, with its CSRF check for unsafe methods; or,
        # without tokens, the origin check that keeps other sites from driving a local browser.
        try:
            client = context.sessions.client_of(request)
            if client is None and not context.tokens.enabled:
                check_origin(request)
        except RefusedError as exc:
            context.metrics.rejections.labels("forbidden").inc()
            return json_error(exc.status, str(exc))
    if context.tokens.enabled and client is None:
        context.metrics.rejections.labels("unauthorized").inc()
        return json_error(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
    if client is None:
        client = peer_client(request.remote)
    limited = rate_limit_of(context, client)
    if limited is not None:
        return _answer(context, limited)
    length = request.content_length
    if length is not None and length > context.max_body_bytes:
        context.metrics.rejections.labels("too_large").inc()
        return json_error(
            413, f"request body of {length} bytes exceeds the {context.max_body_bytes} byte limit"
        )
    if name.startswith(INFER_PREFIX):
        model = _model_of(request)
        overload = overload_of(context, model)
        if overload is not None:
            return _answer(context, overload)
        if model is not None:
            context.queue.reserve(model, request)
    return None


def credentials_in_force(request: web.Request) -> bool:
    """Whether what let ``request`` in (its bearer token or its session cookie) is still taken. The
    guard checks once, before the handler; an answer that lasts (a live view) asks again as it goes,
    so a token a reload revoked, or a session logged out or expired, ends it too."""
    context = context_of(request)
    if not context.tokens.enabled:
        return True
    if context.tokens.client_of(request.headers.get("Authorization")) is not None:
        return True
    return context.sessions.find(request) is not None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A 429 or 503 decided from the headers: the middleware and the front door answer it alike."""

    status: int
    reason: str
    """``edge_gateway_http_rejections_total``'s label."""
    message: str
    retry_after_s: float


def _answer(context: ApiContext, rejection: Rejection) -> web.Response:
    context.metrics.rejections.labels(rejection.reason).inc()
    return json_error(rejection.status, rejection.message, retry_after(rejection.retry_after_s))


def peer_client(host: str | None) -> str:
    """The rate limit's name for a client without a token: its address."""
    return f"peer:{host}" if host else "peer:unknown"


def rate_limit_of(context: ApiContext, client: str) -> Rejection | None:
    """Takes one of ``client``'s tokens, or says how long until there is one (429)."""
    wait_s = context.buckets.take(client, time.monotonic())
    if wait_s > 0:
        return Rejection(429, "rate_limited", "rate limit exceeded for this client", wait_s)
    return None


def overload_of(context: ApiContext, model: str | None) -> Rejection | None:
    """The queue's verdict on one more item of ``model`` (None: a model named improperly, which
    only the watermark applies to): above the high watermark, or an expected wait over the budget
    (``admission.QueueAdmission``); None when it may proceed. Reserves nothing."""
    fill = context.backend.queue_fill()
    if fill > context.admission.high_watermark:
        message = (
            f"inference queue is {fill:.0%} full, above the {context.admission.high_watermark:.0%} watermark"
        )
        return Rejection(503, "overloaded", message, 1.0)
    if model is not None:
        refusal = context.queue.refusal(model)
        if refusal is not None:
            return Rejection(503, "queue_wait", refusal.message, refusal.retry_after_s)
    return None


def _model_of(request: web.Request) -> str | None:
    """The model an inference request names, from its path or (``/v1/detect``) its query or header;
    None when it names none properly (the handler answers 400)."""
    name = request.match_info.get("name")
    if name is not None:
        return name
    reference = request.query.get("model") or request.headers.get("X-Model-Name")
    if not reference:
        return None
    try:
        return ModelReference.parse(reference).name
    except ValueError:
        return None


def _expects_continue(request: web.Request) -> bool:
    return request.headers.get("Expect", "").lower() == "100-continue"


def _observed(request: web.Request, started: float, response: web.Response) -> web.Response:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else UNMATCHED_ROUTE
    context_of(request).metrics.observe(route, request.method, response.status, time.perf_counter() - started)
    return response
