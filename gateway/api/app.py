"""The API's application factory and the runner that serves it.

``create_app`` receives everything it talks to (backend, cameras, events, the metrics registry,
tokens) as arguments and keeps it in typed ``AppKey`` state, so tests and the serve command build
it the same way and nothing lives in module globals. ``serve`` binds it and returns the port.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.api import cameras as camera_routes
from gateway.api import debug as debug_routes
from gateway.api import detect as detect_routes
from gateway.api import events as event_routes
from gateway.api import status as status_routes
from gateway.api import v2 as v2_routes
from gateway.api.admission import QueueAdmission, TokenBuckets
from gateway.api.connection_limit import ConnectionLimit
from gateway.api.console.routes import add_routes as add_console_routes
from gateway.api.context import CONTEXT, EXECUTOR, FRONT_DOOR, ApiContext, context_of
from gateway.api.front_door import FrontDoor
from gateway.api.metrics import HttpMetrics
from gateway.api.middlewares import boundary
from gateway.api.ports import (
    CameraDirectory,
    EventLog,
    GatewayState,
    GeometryEditor,
    InferenceBackend,
    SceneAdvisor,
    SystemInfo,
)
from gateway.api.tokens import FIXED_TOKENS
from gateway.config import AdmissionConfig, HttpConfig
from gateway.protocol.bearer import TokenCheck, check_bind, load_tokens
from gateway.web.answer_headers import add_answer_headers
from gateway.web.bad_requests import summarize_bad_requests
from gateway.web.host_check import HostCheck
from gateway.web.listening import close_listening
from gateway.web.session import Sessions

logger = logging.getLogger(__name__)

App = web.Application
"""The API's application type, for wiring code that must not import aiohttp itself."""

# Image decode, big JSON and snapshots: a couple of threads keep them off the loop without
# competing with the inference workers for the cores.
EXECUTOR_THREADS = 2
READ_BUFFER_BYTES = 2**20


def create_app(
    *,
    http: HttpConfig,
    admission: AdmissionConfig,
    inference: InferenceBackend,
    cameras: CameraDirectory | None,
    events: EventLog | None,
    registry: CollectorRegistry,
    state: GatewayState | None = None,
    tokens: frozenset[str] = frozenset(),
    insecure: bool = False,
    geometry: GeometryEditor | None = None,
    system: SystemInfo | None = None,
    scenes: SceneAdvisor | None = None,
) -> web.Application:
    """Build the API. Tokens are ``tokens`` plus those in ``http.tokens_file`` (which
    ``tokens.replace_tokens`` may replace later); with none, a non-loopback ``http.host`` is
    refused (ConfigError) unless ``insecure``."""
    from_file = load_tokens(http.tokens_file) if http.tokens_file is not None else frozenset()
    check_bind(http.host, has_tokens=bool(tokens | from_file), insecure=insecure)
    token_check = TokenCheck(tokens | from_file)
    app = web.Application(middlewares=[boundary], client_max_size=http.max_body_bytes)
    metrics = HttpMetrics(registry)
    queue = QueueAdmission(inference, admission.max_queue_wait_ms)
    metrics.wait_budget_share.set_function(queue.budget_share)
    connections = ConnectionLimit(metrics.connections_refused)
    metrics.connections_limit.set(connections.cap)
    app[CONTEXT] = ApiContext(
        backend=inference,
        cameras=cameras,
        events=events,
        state=state,
        metrics=metrics,
        tokens=token_check,
        sessions=Sessions(token_check),
        hosts=HostCheck(token_check, http.host),
        buckets=TokenBuckets(admission.rate_per_s, admission.burst),
        queue=queue,
        admission=admission,
        max_body_bytes=http.max_body_bytes,
        insecure=insecure,
        connections=connections,
        geometry=geometry,
        system=system,
        scenes=scenes,
    )
    app[FIXED_TOKENS] = frozenset(tokens)
    door = app[FRONT_DOOR] = FrontDoor(app)
    metrics.connections.set_function(door.__len__)
    metrics.shared_memory_regions.set_function(app[CONTEXT].regions.__len__)
    app.cleanup_ctx.append(_executor)
    app.on_cleanup.append(_close_regions)
    v2_routes.add_routes(app)
    detect_routes.add_routes(app)
    camera_routes.add_routes(app)
    event_routes.add_routes(app)
    status_routes.add_routes(app)
    debug_routes.add_routes(app)
    add_console_routes(app)
    app.router.add_get("/metrics", _metrics, name="metrics")
    add_answer_headers(app)
    return app


async def _executor(app: web.Application) -> AsyncIterator[None]:
    executor = ThreadPoolExecutor(max_workers=EXECUTOR_THREADS, thread_name_prefix="api-worker")
    start_threads(executor, EXECUTOR_THREADS)
    app[EXECUTOR] = executor
    yield
    executor.shutdown(wait=True, cancel_futures=True)


async def _close_regions(app: web.Application) -> None:
    app[CONTEXT].regions.close()


def start_threads(executor: ThreadPoolExecutor, count: int) -> None:
    """The ``count`` threads of ``executor`` started now, not by the first requests that need them:
    a thread refused then (the task or memory limit reached while the gateway runs) failed every
    request that hands work to the pool, /v1/status among them, where refused at start it is one
    line and exit 1 (``gateway.thread_limit``). Each task waits for the others, so that every submit
    finds no thread idle and starts one."""
    all_running = threading.Barrier(count)
    try:
        for _ in range(count):
            executor.submit(all_running.wait)
    except BaseException:
        all_running.abort()  # the tasks waiting for a thread that never came return
        raise


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(context_of(request).metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@dataclass(frozen=True, slots=True)
class RunningServer:
    runner: web.AppRunner
    server: asyncio.Server
    door: FrontDoor
    host: str
    port: int

    async def close(self) -> None:
        self.door.context.connections.stop()
        await close_listening(self.server)  # no new connections
        self.door.close_idle()
        await self.door.answered()  # the front door's own requests end before the thread pool
        await self.door.bodies_handed_over()  # aiohttp drops what arrives once its shutdown begins
        await self.runner.cleanup()  # aiohttp's connections, after their requests end
        await self.server.wait_closed()


async def serve(app: web.Application, host: str, port: int) -> RunningServer:
    """Bind ``app`` on ``host:port`` (0 picks a free port) and start answering; returns the bound
    port with the runner to close. Refuses a non-loopback host the app has no tokens for."""
    context = app[CONTEXT]
    check_bind(host, has_tokens=context.tokens.enabled, insecure=context.insecure)
    summarize_bad_requests()
    # No access log: one line per request costs more than the rest of a rejected request, and the
    # request counters and latency histograms on /metrics say the same in aggregate.
    # A read buffer that holds a whole typical tensor body: with aiohttp's 64 KiB default, a 1 MiB
    # body pauses and resumes the socket reader many times over.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, read_bufsize=READ_BUFFER_BYTES)
    await runner.setup()
    assert runner.server is not None
    # Every connection meets the front door first (front_door.py: overload refusals below aiohttp).
    door = app[FRONT_DOOR]
    assert isinstance(door, FrontDoor)
    door.open(runner.server)
    try:
        server = await asyncio.get_running_loop().create_server(door, host, port, reuse_address=True)
    except OSError:
        await runner.cleanup()
        raise
    bound = server.sockets[0].getsockname()[1]
    _watch_descriptors(context.connections, server)
    logger.info("HTTP API listening on %s:%s%s", host, bound, "" if context.tokens.enabled else " (no auth)")
    return RunningServer(runner, server, door, host, int(bound))


def _watch_descriptors(connections: ConnectionLimit, server: asyncio.Server) -> None:
    """Running out of descriptors is found by a look once a second and, on asyncio's loop, by the
    accept's own error, which the loop would log with its traceback every second it lasts:
    ``connections`` logs it once instead (connection_limit.py)."""
    connections.watch(server.sockets[0].fileno())
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if connections.loop_error(context):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
