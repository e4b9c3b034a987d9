"""What the audit HTTP API's handlers share: the app's keys, JSON errors, the service's own problems,
and ``read``, which runs a store read on the app's one reader thread (the store's connection serves
one read at a time)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.protocol.bearer import TokenCheck
from gateway.web.host_check import HostCheck
from gateway.web.session import Sessions

T = TypeVar("T")

STORE: web.AppKey[AuditStore] = web.AppKey("edge_gateway_audit_store", AuditStore)
TOKENS: web.AppKey[TokenCheck] = web.AppKey("edge_gateway_audit_tokens", TokenCheck)
SESSIONS: web.AppKey[Sessions] = web.AppKey("edge_gateway_audit_sessions", Sessions)
HOSTS: web.AppKey[HostCheck] = web.AppKey("edge_gateway_audit_hosts", HostCheck)
READER: web.AppKey[ThreadPoolExecutor] = web.AppKey("edge_gateway_audit_reader", ThreadPoolExecutor)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("edge_gateway_audit_registry", CollectorRegistry)


class ServiceProblems:
    """What is wrong with this audit instance itself rather than with a device, by cause: ``audit
    serve`` sets one (a keys reload that failed, with the file and the error) and clears it when the
    cause is gone (a reload that succeeded); ``GET /v1/status`` lists them. Any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, str] = {}

    def set(self, cause: str, problem: str | None) -> None:
        """``problem`` is what ``cause`` says now; None: nothing, and the one it said is cleared."""
        with self._lock:
            if problem is None:
                self._problems.pop(cause, None)
            else:
                self._problems[cause] = problem

    def listed(self) -> list[str]:
        with self._lock:
            return [self._problems[cause] for cause in sorted(self._problems)]


PROBLEMS: web.AppKey[ServiceProblems] = web.AppKey("edge_gateway_audit_problems", ServiceProblems)


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps({"error": message}).encode(),
        content_type="application/json",
        headers=headers,
    )


async def read(request: web.Request, function: Callable[[AuditStore], T]) -> T:
    """``function(store)`` on the reader thread: the store's connection, one read at a time."""
    store = request.app[STORE]
    return await asyncio.get_running_loop().run_in_executor(request.app[READER], function, store)
