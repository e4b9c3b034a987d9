"""What the audit HTTP API's handlers share: the app's keys, JSON errors, and ``read``, which runs a
store read on the app's one reader thread (the store's connection serves one read at a time)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.protocol.bearer import TokenCheck
from gateway.web.session import Sessions

T = TypeVar("T")

STORE: web.AppKey[AuditStore] = web.AppKey("edge_gateway_audit_store", AuditStore)
TOKENS: web.AppKey[TokenCheck] = web.AppKey("edge_gateway_audit_tokens", TokenCheck)
SESSIONS: web.AppKey[Sessions] = web.AppKey("edge_gateway_audit_sessions", Sessions)
READER: web.AppKey[ThreadPoolExecutor] = web.AppKey("edge_gateway_audit_reader", ThreadPoolExecutor)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("edge_gateway_audit_registry", CollectorRegistry)


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
