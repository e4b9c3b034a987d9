"""The console's login (``gateway.web.login``) under the API's rules: refusals are counted with the
API's rejections. Attempts take tokens from a bucket of their own per client address, the limit the
audit service's login has too (``gateway.web.login.attempts_by_address``): they took them from the
API's rate limit, 200 a second by default, so a script could guess tokens at the rate the API serves
requests."""

from __future__ import annotations

from aiohttp import web

from gateway.api.context import context_of
from gateway.web.login import LoginPolicy, attempts_by_address
from gateway.web.login import add_routes as add_login_routes
from gateway.web.session import Sessions


def add_routes(app: web.Application, sessions: Sessions) -> None:
    def refused(request: web.Request, reason: str) -> None:
        context_of(request).metrics.rejections.labels(reason).inc()

    add_login_routes(app, LoginPolicy(sessions, attempts_by_address(), refused, service="gateway"))
