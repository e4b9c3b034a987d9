"""The audit service's HTTP API (``audit serve`` with an ``http:`` section): an aiohttp app factory.

``create_app`` takes an ``AuditStore`` of its own (one connection, so reads run one at a time on a
single ``audit-http-reader`` thread, off the event loop: ``http_context.read``) and the bearer
tokens; the same token rules as the gateway's API apply (``gateway.protocol.bearer``): with tokens
every request needs ``Authorization: Bearer <token>`` or a session cookie from the fleet page's
login (``gateway.web``: the console's login, sessions and CSRF check, attempts rate-limited per
client), and without tokens only a loopback address may be bound and only requests whose ``Host``
names the loopback are answered (``gateway.web.host_check``: 421 otherwise). The page, its assets
and the login are open. Errors are JSON ``{"error": "..."}``: 400 for a bad path or query, 401
without a valid token, 404 saying what is missing, 421 for another ``Host`` without tokens, 503 when
the database cannot be read.

Routes: the fleet API, ``/metrics`` and the fleet page (``gateway.audit.fleet_http``);
``GET /v1/status``, this instance's own health in the gateway's ``/v1/status`` style (``healthy``,
and ``problems``: a keys reload that failed, naming the file and the error, until a reload
succeeds, and a store that fails, until a store succeeds; the devices' problems are the fleet
API's); and
``GET /v1/devices/{device_id}/alerts/{seq}/evidence.jpg``, the image the device's signed
alert ``seq`` names, exactly as stored, after hashing it again: an image that no longer matches its
alert's digest (edited in the store) is a 409 pointing at ``audit verify``, never served as genuine.
The device names the image's type: only a raster image type is served as such, anything else as
``application/octet-stream``, always with ``nosniff`` and a sandboxing Content-Security-Policy, so
an image whose bytes are HTML or SVG runs nothing on this origin.

``AuditHttpServer`` runs the app on its own thread and event loop (``audit serve`` is not an asyncio
program): ``start`` binds and returns the port, ``stop`` closes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from gateway.audit import fleet_http
from gateway.audit.http_context import (
    HOSTS,
    PROBLEMS,
    READER,
    REGISTRY,
    SESSIONS,
    STORE,
    TOKENS,
    ServiceProblems,
    json_error,
    read,
)
from gateway.audit.keys_file import quoted_id
from gateway.audit.store import AuditStore
from gateway.config import HttpConfig
from gateway.domain import ascii_integer
from gateway.errors import AuditError
from gateway.protocol.alerts import MAX_SEQ, InvalidAlertError, decode_alert
from gateway.protocol.bearer import TokenCheck, check_bind, load_tokens
from gateway.web import login
from gateway.web.answer_headers import add_answer_headers
from gateway.web.bad_requests import summarize_bad_requests
from gateway.web.host_check import MISDIRECTED, HostCheck
from gateway.web.listening import close_listening
from gateway.web.session import OPEN_PREFIX, RefusedError, Sessions, check_origin

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# How long a request still being answered at a stop may take to end before it is cancelled: under
# STOP_TIMEOUT_S, so that a stop ends on time (aiohttp's default, 60 s, outlasted it).
REQUEST_GRACE_S = 5.0
RASTER_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
# An evidence image is shown by the fleet page's <img>, never as a page: nothing in it may run or be
# sniffed into a type that runs, even when its bytes are HTML.
EVIDENCE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def create_app(
    store: AuditStore,
    *,
    http: HttpConfig,
    tokens: frozenset[str] = frozenset(),
    registry: CollectorRegistry | None = None,
    problems: ServiceProblems | None = None,
) -> web.Application:
    """The audit API over ``store`` (used only by this app from here on). Tokens are ``tokens`` plus
    those in ``http.tokens_file``; with none, a non-loopback ``http.host`` is a ConfigError.
    ``registry`` (the subscriber's metrics) is served on ``/metrics`` beside the fleet's gauges;
    ``problems`` (the service's own, such as a keys reload that failed) are listed by ``/v1/status``."""
    all_tokens = tokens | (load_tokens(http.tokens_file) if http.tokens_file is not None else frozenset())
    check_bind(http.host, has_tokens=bool(all_tokens), insecure=False, can_be_insecure=False)
    app = web.Application(middlewares=[_boundary, _auth], client_max_size=http.max_body_bytes)
    app[STORE] = store
    app[TOKENS] = TokenCheck(all_tokens)
    app[SESSIONS] = Sessions(app[TOKENS])
    app[HOSTS] = HostCheck(app[TOKENS], http.host)
    if registry is not None:
        app[REGISTRY] = registry
    app[PROBLEMS] = problems if problems is not None else ServiceProblems()
    app.cleanup_ctx.append(_reader)
    app.router.add_get("/v1/status", status, name="status")
    app.router.add_get("/v1/devices/{device_id}/alerts/{seq}/evidence.jpg", evidence_image, name="evidence")
    fleet_http.add_routes(app)
    policy = login.LoginPolicy(app[SESSIONS], login.attempts_by_address(), service="audit service")
    login.add_routes(app, policy)
    add_answer_headers(app)
    return app


async def _reader(app: web.Application) -> AsyncIterator[None]:
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-http-reader")
    app[READER] = executor
    yield
    executor.shutdown(wait=True, cancel_futures=True)


@web.middleware
async def _boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kept = {key: value for key, value in exc.headers.items() if key.lower() in ("allow", "retry-after")}
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return json_error(exc.status, message, kept)
    except AuditError as exc:
        logger.error("audit HTTP: %s %s: %s", request.method, request.path, exc)
        return json_error(503, f"the audit store cannot be read: {exc}", {"Retry-After": "5"})
    except Exception:  # the one place every other failure becomes an answer
        logger.exception("audit HTTP: unexpected error answering %s %s", request.method, request.path)
        return json_error(500, "internal error; the audit service's log has the details")


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    misdirected = request.app[HOSTS].misdirected_request(request.headers.get("Host"), request.host)
    if misdirected is not None:
        return json_error(MISDIRECTED, misdirected)
    if (request.match_info.route.name or "").startswith(OPEN_PREFIX):
        return await handler(request)
    tokens = request.app[TOKENS]
    if tokens.client_of(request.headers.get("Authorization")) is not None:
        return await handler(request)
    try:
        # No bearer token: the fleet page's session cookie; without tokens, the origin check that
        # keeps other sites from driving a local browser.
        client = request.app[SESSIONS].client_of(request)
        if client is None and not tokens.enabled:
            check_origin(request)
    except RefusedError as exc:
        return json_error(exc.status, str(exc))
    if tokens.enabled and client is None:
        return json_error(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
    return await handler(request)


async def status(request: web.Request) -> web.Response:
    problems = request.app[PROBLEMS].listed()
    body = {"healthy": not problems, "problems": problems}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def evidence_image(request: web.Request) -> web.Response:
    device_id = request.match_info["device_id"]
    raw_seq = request.match_info["seq"]
    seq = ascii_integer(raw_seq)
    if seq is None or not 1 <= seq <= MAX_SEQ:
        raise web.HTTPBadRequest(text=f"seq must be an integer from 1 to {MAX_SEQ}, got {raw_seq!r}")
    stored = await read(request, lambda store: store.alert(device_id, seq))
    if stored is None:
        raise web.HTTPNotFound(text=f"no alert {seq} of device {quoted_id(device_id)} in the audit log")
    try:
        evidence = decode_alert(stored.payload).event.evidence
    except InvalidAlertError as exc:
        raise web.HTTPConflict(
            text=f"stored alert {seq} is not well formed ({exc}): run audit verify"
        ) from exc
    if evidence is None:
        raise web.HTTPNotFound(
            text=f"alert {seq} of device {quoted_id(device_id)} carries no evidence: only start and "
            "instant alerts do"
        )
    data = await read(request, lambda store: store.evidence_image(device_id, seq))
    if data is None:
        raise web.HTTPNotFound(
            text=f"the evidence of alert {seq} of device {quoted_id(device_id)} has not arrived (the "
            "device is asked to replay it)"
        )
    if len(data) != evidence.bytes or hashlib.sha256(data).hexdigest() != evidence.sha256:
        raise web.HTTPConflict(
            text=f"the stored evidence of alert {seq} does not match the digest its signed alert names: "
            "run audit verify"
        )
    headers = {
        **EVIDENCE_HEADERS,
        "Content-Type": evidence_content_type(evidence.type),
        "ETag": f'"{evidence.sha256}"',
        "Cache-Control": "private, max-age=31536000, immutable",
    }
    return web.Response(body=data, headers=headers)


def evidence_content_type(named: str) -> str:
    """The type an evidence image is served as: the one its alert names when that is a raster image
    type a browser only draws, else ``application/octet-stream``. The device chooses the name, so
    ``text/html`` or ``image/svg+xml`` would be a page of its own on this origin, and a name with
    control characters or parameters is not a header value to copy."""
    media_type = named.strip().lower()
    return media_type if media_type in RASTER_TYPES else "application/octet-stream"


class AuditHttpServer:
    """The app on ``host:port`` (0: a free port), served from an ``audit-http`` thread."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="audit-http", daemon=True)
        self._serving: tuple[web.AppRunner, asyncio.Server] | None = None

    def start(self) -> int:
        """Bind and serve; returns the bound port. OSError when the address cannot be bound."""
        self._thread.start()
        try:
            runner, server, port = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(
                START_TIMEOUT_S
            )
            self._serving = (runner, server)
        except BaseException:
            self._end_loop()
            raise
        logger.info("audit HTTP API listening on %s:%d", self._host, port)
        return port

    async def _serve(self) -> tuple[web.AppRunner, asyncio.Server, int]:
        summarize_bad_requests()
        runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=REQUEST_GRACE_S
        )
        await runner.setup()
        assert runner.server is not None
        try:
            server = await asyncio.get_running_loop().create_server(
                runner.server, self._host, self._port, reuse_address=True
            )
        except OSError:
            await runner.cleanup()
            raise
        return runner, server, int(server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        if self._serving is not None:
            asyncio.run_coroutine_threadsafe(self._close(*self._serving), self._loop).result(STOP_TIMEOUT_S)
            self._serving = None
        self._end_loop()

    @staticmethod
    async def _close(runner: web.AppRunner, server: asyncio.Server) -> None:
        await close_listening(server)
        await runner.cleanup()  # each connection, once its request (if any) is answered
        await server.wait_closed()

    def _end_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT_S)
        if not self._loop.is_running():
            self._loop.close()
