"""The console's login (``gateway.web.login``) under the API's rules: refusals are counted with the
API's rejections. Attempts take tokens from a bucket of their own per client address, as slow as the
audit service's (``gateway.web.login.ATTEMPTS_PER_S``): they took them from the API's rate limit,
200 a second by default, so a script could guess tokens at the rate the API serves requests."""

from __future__ import annotations

import time

from aiohttp import web

from gateway.api.context import context_of
from gateway.web.login import ATTEMPT_BURST, ATTEMPTS_PER_S, LoginPolicy
from gateway.web.login import add_routes as add_login_routes
from gateway.web.rate_limit import TokenBuckets
from gateway.web.session import Sessions


def add_routes(app: web.Application, sessions: Sessions) -> None:
    attempts = TokenBuckets(ATTEMPTS_PER_S, ATTEMPT_BURST)

    def throttle(request: web.Request) -> float:
        return attempts.take(f"peer:{request.remote or 'unknown'}", time.monotonic())

    def refused(request: web.Request, reason: str) -> None:
        context_of(request).metrics.rejections.labels(reason).inc()

    add_login_routes(app, LoginPolicy(sessions, throttle, refused, service="gateway"))
