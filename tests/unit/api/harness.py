"""Serve a real aiohttp app on a free 127.0.0.1 port from a background event loop, and talk to it
with a plain blocking HTTP client, so tests read like a client session and need no async plugin."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from gateway.api.app import RunningServer, serve

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LoopThread:
    def __init__(
        self, loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    ) -> None:
        self.loop = loop_factory()
        self._thread = threading.Thread(target=self.loop.run_forever, name="api-test-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        # Connections the server closed at shutdown may still have a task finishing; let them end
        # rather than destroy them pending.
        self.run(_finish_tasks())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def _finish_tasks() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class ServedApi:
    """The app bound on 127.0.0.1:<free port>; ``close()`` stops the server and its loop."""

    def __init__(
        self,
        app: web.Application,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    ) -> None:
        self.app = app
        self._loop = LoopThread(loop_factory)
        try:
            self._server: RunningServer = self._loop.run(serve(app, "127.0.0.1", 0))
        except BaseException:
            self._loop.close()
            raise
        self.port = self._server.port
        self.door = self._server.door

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def on_loop(self, function: Callable[[], None]) -> None:
        """Call ``function`` on the server's loop, as its own callbacks run, and wait for it."""

        async def call() -> None:
            function()

        self._loop.run(call())

    def aiohttp_connections(self) -> list[web.RequestHandler]:
        """The connections aiohttp's server holds now (read on the server's loop)."""

        async def read() -> list[web.RequestHandler]:
            server = self._server.runner.server
            assert server is not None
            return list(server.connections)

        return self._loop.run(read())

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers=headers)

    def post_json(self, path: str, document: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return self.request(
            "POST",
            path,
            json.dumps(document).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def close(self) -> None:
        """Stop the server and its loop; a second call (a test's own stop, then the fixture's) does
        nothing."""
        if self._loop.loop.is_closed():
            return
        try:
            self._loop.run(self._server.close())
        finally:
            self._loop.close()
