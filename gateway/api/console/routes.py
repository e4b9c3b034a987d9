"""Every console route on the API app, in one call for the app factory."""

from __future__ import annotations

from aiohttp import web

from gateway.api.console import geometry, login, pages, stream
from gateway.api.context import CONTEXT


def add_routes(app: web.Application) -> None:
    pages.add_routes(app)
    login.add_routes(app, app[CONTEXT].sessions)
    stream.add_routes(app)
    geometry.add_routes(app)
