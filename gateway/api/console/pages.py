"""The console's page and assets: ``GET /`` and ``GET /console/{name}``.

The shared assets (``gateway.web``: CSS, the API client, the login shell) and the console's own
(``static/``) are read once when the app is built (``gateway.web.assets``). Pages are open (the
login form must load before a login); the data they show comes from the API behind the tokens.
"""

from __future__ import annotations

from aiohttp import web

from gateway.web.assets import Asset, answer, find, load_assets
from gateway.web.session import OPEN_PREFIX

ASSETS: web.AppKey[dict[str, Asset]] = web.AppKey("edge_gateway_console_assets", dict)


def add_routes(app: web.Application) -> None:
    app[ASSETS] = load_assets("gateway.api.console")
    app.router.add_get("/", index, name=f"{OPEN_PREFIX}console")
    app.router.add_get("/console/{name}", asset, name=f"{OPEN_PREFIX}console_asset")


async def index(request: web.Request) -> web.Response:
    return answer(request, request.app[ASSETS]["index.html"])


async def asset(request: web.Request) -> web.Response:
    return answer(request, find(request.app[ASSETS], request.match_info["name"]))
