"""``/v1/session``: a token traded for a session cookie, the session's state, and logout.

Shared by the gateway's console and the audit service's fleet page; each app hands in a
``LoginPolicy``: its sessions, how many attempts a client may make (attempts take tokens from a
bucket, so guessing is as slow as the app allows) and how refusals are counted. ``POST`` takes
``{"token": "..."}`` as JSON only: a cross-site HTML form cannot send that content type, so no other
site can log a browser in under a token of its choosing; and, as every other state-changing request,
it must pass the origin check (``session.check_origin``: 403 for a request a browser says another
site started), before it spends an attempt. Errors are raised as aiohttp HTTP
exceptions with their message as text; each app's boundary answers them as JSON ``{"error": ...}``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from gateway.web.rate_limit import TokenBuckets
from gateway.web.session import (
    COOKIE,
    OPEN_PREFIX,
    RefusedError,
    Sessions,
    check_origin,
    reached_over_https,
    set_cookie,
)

MAX_LOGIN_BYTES = 4096
ATTEMPTS_PER_S = 1.0
"""Login attempts a client may make, once its burst is spent: a person mistyping is never held up,
a script guessing tokens makes one guess a second."""
ATTEMPT_BURST = 10


def attempts_by_address(clock: Callable[[], float] = time.monotonic) -> Callable[[web.Request], float]:
    """The login limit of every app that logs browsers in (the console's, the audit service's):
    ``ATTEMPT_BURST`` attempts at once per client address, then ``ATTEMPTS_PER_S``. A
    ``LoginPolicy.throttle`` with a table of buckets of its own, so one app's guesses spend nothing
    of another's."""
    attempts = TokenBuckets(ATTEMPTS_PER_S, ATTEMPT_BURST)

    def throttle(request: web.Request) -> float:
        return attempts.take(f"peer:{request.remote or 'unknown'}", clock())

    return throttle


def _count_nothing(request: web.Request, reason: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    sessions: Sessions
    throttle: Callable[[web.Request], float]
    """Takes one attempt for the request's client: 0.0 to go ahead, else the seconds to wait."""
    refused: Callable[[web.Request, str], None] = _count_nothing
    """Counts a refused attempt, by reason: ``forbidden``, ``rate_limited`` or ``unauthorized``."""
    service: str = "gateway"
    """Named in the answer to a login where no tokens are configured."""


POLICY: web.AppKey[LoginPolicy] = web.AppKey("edge_gateway_login_policy", LoginPolicy)


def add_routes(app: web.Application, policy: LoginPolicy) -> None:
    app[POLICY] = policy
    app.router.add_get("/v1/session", state, name=f"{OPEN_PREFIX}session")
    app.router.add_post("/v1/session", login, name=f"{OPEN_PREFIX}session_login")
    app.router.add_delete("/v1/session", logout, name=f"{OPEN_PREFIX}session_logout")


async def state(request: web.Request) -> web.Response:
    """Whether a login is needed and, for a live session, the CSRF token its requests must carry."""
    sessions = request.app[POLICY].sessions
    session = sessions.find(request)
    return web.json_response(
        {
            "auth_required": sessions.required,
            "authenticated": session is not None or not sessions.required,
            "csrf_token": session.csrf_token if session is not None else None,
        },
        headers={"Cache-Control": "no-store"},
    )


async def login(request: web.Request) -> web.Response:
    policy = request.app[POLICY]
    try:
        check_origin(request)
    except RefusedError as exc:
        policy.refused(request, "forbidden")
        raise web.HTTPForbidden(text=str(exc)) from exc
    wait_s = policy.throttle(request)
    if wait_s > 0:
        policy.refused(request, "rate_limited")
        seconds = max(1, math.ceil(wait_s))
        raise web.HTTPTooManyRequests(
            text=f"too many login attempts from this client: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text='send {"token": "..."} as application/json')
    if (request.content_length or 0) > MAX_LOGIN_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_LOGIN_BYTES, request.content_length or 0)
    body = await request.content.read(MAX_LOGIN_BYTES + 1)
    try:
        document = json.loads(body) if len(body) <= MAX_LOGIN_BYTES else None
    except (ValueError, RecursionError):
        document = None
    token = document.get("token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise web.HTTPBadRequest(text='the body must be {"token": "<one of the API tokens>"}')
    if not policy.sessions.required:
        raise web.HTTPConflict(
            text=f"this {policy.service} has no tokens configured: its pages need no login"
        )
    opened = policy.sessions.open(token.strip())
    if opened is None:
        policy.refused(request, "unauthorized")
        raise web.HTTPUnauthorized(text="wrong token")
    session_id, session = opened
    response = web.json_response(
        {"authenticated": True, "csrf_token": session.csrf_token}, headers={"Cache-Control": "no-store"}
    )
    set_cookie(response, session_id, secure=reached_over_https(request))
    return response


async def logout(request: web.Request) -> web.Response:
    sessions = request.app[POLICY].sessions
    try:
        sessions.client_of(request)  # the CSRF check, when there is a session to end
    except RefusedError as exc:
        raise web.HTTPForbidden(text=str(exc)) from exc
    sessions.close(request)
    response = web.Response(status=204, headers={"Cache-Control": "no-store"})
    response.del_cookie(COOKIE, path="/")
    return response
