"""Page assets served from the package: our own HTML, CSS and JavaScript (no CDN, no web fonts).

``load_assets`` reads the shared ``gateway/web/static`` folder and a page's own folder once, into
memory, so a page load is a dictionary lookup; a page's own file of the same name wins. ``answer``
serves one with a strict Content-Security-Policy (this origin's own scripts and styles only), an
ETag and ``no-cache`` (revalidated on every load, a 304 when unchanged, so an upgrade shows at once).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

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
SHARED_PACKAGE = "gateway.web"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(package: str) -> dict[str, Asset]:
    """The shared assets, then those in ``package``'s ``static/`` folder, by file name."""
    assets: dict[str, Asset] = {}
    for source in (SHARED_PACKAGE, package):
        for entry in resources.files(source).joinpath("static").iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if entry.is_file() and suffix in CONTENT_TYPES:
                body = entry.read_bytes()
                etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
                assets[entry.name] = Asset(body, CONTENT_TYPES[suffix], etag)
    return assets


def answer(request: web.Request, found: Asset) -> web.Response:
    headers = {**SECURITY_HEADERS, "ETag": found.etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == found.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.body, headers={**headers, "Content-Type": found.content_type})


def find(assets: dict[str, Asset], name: str) -> Asset:
    """The asset ``name``; a 404 naming it when there is none (a path never reaches the disk)."""
    found = assets.get(name)
    if found is None:
        raise web.HTTPNotFound(text=f"no asset {name!r}")
    return found
