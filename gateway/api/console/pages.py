"""The console's page and assets, served from the package: ``GET /`` and ``GET /console/{name}``.

Everything the browser runs is in ``static/`` (our own HTML, CSS and JavaScript; no CDN, no web
fonts), read once into memory when the app is built, so a page load is a dictionary lookup. Pages
are open (the login form must load before a login); the data they show comes from the API behind
the tokens. A strict Content-Security-Policy allows only this origin's own scripts and styles.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from gateway.api.middlewares import OPEN_PREFIX

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    folder = resources.files("gateway.api.console").joinpath("static")
    assets = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in CONTENT_TYPES:
            body = entry.read_bytes()
            etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
            assets[entry.name] = Asset(body, CONTENT_TYPES[suffix], etag)
    return assets


ASSETS: web.AppKey[dict[str, Asset]] = web.AppKey("edge_gateway_console_assets", dict)


def add_routes(app: web.Application) -> None:
    app[ASSETS] = load_assets()
    app.router.add_get("/", index, name=f"{OPEN_PREFIX}console")
    app.router.add_get("/console/{name}", asset, name=f"{OPEN_PREFIX}console_asset")


async def index(request: web.Request) -> web.Response:
    return _answer(request, request.app[ASSETS]["index.html"])


async def asset(request: web.Request) -> web.Response:
    found = request.app[ASSETS].get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound(text=f"no console asset {request.match_info['name']!r}")
    return _answer(request, found)


def _answer(request: web.Request, found: Asset) -> web.Response:
    # no-cache: revalidated on every load (a 304 when unchanged), so an upgrade shows at once.
    headers = {**SECURITY_HEADERS, "ETag": found.etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == found.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.body, headers={**headers, "Content-Type": found.content_type})
