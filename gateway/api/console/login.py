"""``/v1/session``: the console's login (a token for a session cookie), its state, and logout.

``POST`` takes ``{"token": "..."}`` as JSON only: a cross-site HTML form cannot send that content
type, so no other site can log a browser in under a token of its choosing. Attempts take tokens
from the client's rate-limit bucket like any request, so guessing is as slow as the API allows.
"""

from __future__ import annotations

import time

from aiohttp import web

from gateway.api.console.session import COOKIE, RefusedError, set_cookie
from gateway.api.context import context_of, read_body
from gateway.api.json_body import load_json
from gateway.api.middlewares import OPEN_PREFIX, json_error, retry_after
from gateway.errors import InvalidInputError

MAX_LOGIN_BYTES = 4096


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/session", state, name=f"{OPEN_PREFIX}session")
    app.router.add_post("/v1/session", login, name=f"{OPEN_PREFIX}session_login")
    app.router.add_delete("/v1/session", logout, name=f"{OPEN_PREFIX}session_logout")


async def state(request: web.Request) -> web.Response:
    """Whether a login is needed and, for a live session, the CSRF token its requests must carry."""
    sessions = context_of(request).sessions
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
    context = context_of(request)
    wait_s = context.buckets.take(f"peer:{request.remote or 'unknown'}", time.monotonic())
    if wait_s > 0:
        context.metrics.rejections.labels("rate_limited").inc()
        return json_error(429, "too many login attempts from this client", retry_after(wait_s))
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text='send {"token": "..."} as application/json')
    if (request.content_length or 0) > MAX_LOGIN_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_LOGIN_BYTES, request.content_length or 0)
    document = load_json(await read_body(request))
    token = document.get("token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise InvalidInputError('the body must be {"token": "<one of the API tokens>"}')
    if not context.sessions.required:
        raise web.HTTPConflict(text="this gateway has no tokens configured: the console needs no login")
    opened = context.sessions.open(token.strip())
    if opened is None:
        context.metrics.rejections.labels("unauthorized").inc()
        return json_error(401, "wrong token")
    session_id, session = opened
    response = web.json_response(
        {"authenticated": True, "csrf_token": session.csrf_token}, headers={"Cache-Control": "no-store"}
    )
    set_cookie(response, session_id, secure=request.secure)
    return response


async def logout(request: web.Request) -> web.Response:
    sessions = context_of(request).sessions
    try:
        sessions.client_of(request)  # the CSRF check, when there is a session to end
    except RefusedError as exc:
        return json_error(exc.status, str(exc))
    sessions.close(request)
    response = web.Response(status=204, headers={"Cache-Control": "no-store"})
    response.del_cookie(COOKIE, path="/")
    return response
