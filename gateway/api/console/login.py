"""The console's login (``gateway.web.login``) under the API's rules: attempts take tokens from the
client's rate-limit bucket like any request, and refusals are counted with the API's rejections."""

from __future__ import annotations

import time

from aiohttp import web

from gateway.api.context import context_of
from gateway.web.login import LoginPolicy
from gateway.web.login import add_routes as add_login_routes
from gateway.web.session import Sessions


def add_routes(app: web.Application, sessions: Sessions) -> None:
    def throttle(request: web.Request) -> float:
        return context_of(request).buckets.take(f"peer:{request.remote or 'unknown'}", time.monotonic())

    def refused(request: web.Request, reason: str) -> None:
        context_of(request).metrics.rejections.labels(reason).inc()

    add_login_routes(app, LoginPolicy(sessions, throttle, refused, service="gateway"))
