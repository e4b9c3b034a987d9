"""``/debug/threads`` and ``/debug/memory``: look inside a running gateway without restarting it.

Both always need a bearer token when tokens are configured (the guard middleware sees to that):
stacks and allocation sites say a lot about the code and its data.
"""

from __future__ import annotations

import sys
import threading
import traceback
import tracemalloc
from typing import Any

from aiohttp import web

from gateway.api.context import offload

TOP_ALLOCATIONS = 25


def add_routes(app: web.Application) -> None:
    app.router.add_get("/debug/threads", threads, name="debug_threads")
    app.router.add_get("/debug/memory", memory, name="debug_memory")


def thread_stacks() -> list[dict[str, Any]]:
    frames = sys._current_frames()
    entries = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident) if thread.ident is not None else None
        entries.append(
            {
                "name": thread.name,
                "ident": thread.ident,
                # The kernel's thread id: /proc/<pid>/task/<native_id> has its CPU time.
                "native_id": thread.native_id,
                "daemon": thread.daemon,
                "stack": traceback.format_stack(frame) if frame is not None else [],
            }
        )
    return entries


def top_allocations(limit: int = TOP_ALLOCATIONS) -> dict[str, Any]:
    if not tracemalloc.is_tracing():
        return {
            "tracing": False,
            "message": "tracemalloc is off; start the gateway with PYTHONTRACEMALLOC=1 (or -X tracemalloc) "
            "to see the top allocations here",
        }
    current, peak = tracemalloc.get_traced_memory()
    statistics = tracemalloc.take_snapshot().statistics("lineno")
    return {
        "tracing": True,
        "traced_bytes": current,
        "peak_bytes": peak,
        "top": [
            {"where": str(stat.traceback[0]), "bytes": stat.size, "count": stat.count}
            for stat in statistics[:limit]
        ],
    }


async def threads(request: web.Request) -> web.Response:
    return web.json_response({"threads": thread_stacks()})


async def memory(request: web.Request) -> web.Response:
    # A snapshot walks every traced block: seconds on a big heap, so not on the event loop.
    return web.json_response(await offload(request, top_allocations))
