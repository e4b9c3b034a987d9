"""What the front door (front_door.py) does with a request head it has read: refuse it as the
middleware would (429, 503), admit it and answer it itself, or hand it to aiohttp."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from gateway.api.context import DEADLINE_HEADER, ApiContext, deadline_from, parse_version
from gateway.api.door_infer import response_head
from gateway.api.middlewares import JSON_TYPE, Rejection, overload_of, rate_limit_of, retry_after
from gateway.api.request_head import Head
from gateway.errors import InvalidInputError

ROUTES = ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer")
"""The routes' patterns, as the middleware labels their metrics."""
BROWSER_HEADERS = frozenset({"cookie", "origin", "sec-fetch-site"})
"""A request with any of these goes to the middleware's session and cross-site checks."""


def judge(
    context: ApiContext, request: Head, peer: str, aiohttp_idle: Callable[[], bool]
) -> Rejection | bool:
    """The 429 or 503 the middleware would answer ``request`` with, when it is one the front door
    may answer; True when the front door admits the request and answers it itself; False (and
    nothing taken) when it goes to aiohttp. ``peer`` names the client when no token does;
    ``aiohttp_idle`` says whether aiohttp is done with the connection (asked last: it is the
    dearest check)."""
    if (
        request.method != "POST"
        or request.model is None
        or request.content_length > context.max_body_bytes
        or not BROWSER_HEADERS.isdisjoint(request.headers)
        or not aiohttp_idle()
    ):
        return False
    client = context.tokens.client_of(request.headers.get("authorization"))
    if client is None:
        if context.tokens.enabled:
            return False  # 401
        if context.hosts.misdirected(request.headers["host"]) is not None:
            return False  # 421
        client = peer
    overload = overload_of(context, request.model)
    if overload is not None:
        # Refused either way, as the middleware would: 429 when the client's bucket is empty,
        # else 503 with the token spent.
        return rate_limit_of(context, client) or overload
    if not servable(request):
        return False  # the middleware takes the client's token, or answers 429
    return rate_limit_of(context, client) or True


def servable(request: Head) -> bool:
    """An admitted request the front door may answer itself: with a body, none of aiohttp's
    decoding (``Content-Encoding``), and headers that the handler would not refuse before reading
    the body (the version in the path, the deadline header). On a connection aiohttp has, it is
    let go first (``door_connection.Connection._let_aiohttp_go``; ``judge`` has found it idle)."""
    headers = request.headers
    if (
        request.content_length == 0
        or "content-encoding" in headers
        or headers.get("expect", "100-continue").lower() != "100-continue"
    ):
        return False
    try:
        parse_version(request.version)
        deadline_from(headers.get(DEADLINE_HEADER.lower()), 0.0)
    except InvalidInputError:
        return False
    return True


def refusal(
    context: ApiContext, request: Head, rejection: Rejection, started: float, date: str, *, close: bool
) -> bytes:
    """The refused request's answer, head and body, counted in the metrics as the middleware counts
    its refusals (before the answer leaves: a client that reads /metrics next finds it there)."""
    body = json.dumps({"error": rejection.message}).encode()
    head = response_head(
        rejection.status, JSON_TYPE, len(body), retry_after(rejection.retry_after_s), date=date, close=close
    )
    context.metrics.rejections.labels(rejection.reason).inc()
    context.metrics.observe(
        ROUTES[request.versioned], "POST", rejection.status, time.perf_counter() - started
    )
    return head + body
