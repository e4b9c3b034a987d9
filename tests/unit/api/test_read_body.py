"""read_body: the whole body in one buffer, the binary part on a 64-byte boundary, whether the body
is still arriving when the handler reads it or arrived whole before (usual on uvloop)."""

from __future__ import annotations

import asyncio
import ctypes
import json
import tracemalloc
from collections.abc import Iterator

import numpy as np
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.api.context import ALIGNMENT, read_body
from gateway.config import AdmissionConfig, HttpConfig
from tests.unit.api.fakes import FakeBackend
from tests.unit.api.harness import ServedApi

ALIGN_AT = 37
# Under the server's read buffer (app.READ_BUFFER_BYTES), so that it can arrive whole before it is read.
BODY = bytes(np.random.default_rng(5).integers(0, 256, 900_011, dtype=np.uint8))


async def _read(request: web.Request) -> web.Response:
    if request.query.get("wait") == "eof":
        # Given a body that has arrived whole before the handler reads it
        for _ in range(500):
            if request.content.is_eof():
                break
            await asyncio.sleep(0.01)
        assert request.content.is_eof()
    tracemalloc.start()
    try:
        body = await read_body(request, align_at=ALIGN_AT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    address = ctypes.addressof(ctypes.c_char.from_buffer(body))
    matches = bytes(body) == BODY
    return web.json_response(
        {"aligned": (address + ALIGN_AT) % ALIGNMENT == 0, "matches": matches, "allocated": peak}
    )


@pytest.fixture
def api(backend: FakeBackend, registry: CollectorRegistry) -> Iterator[ServedApi]:
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=None,
        events=None,
        registry=registry,
    )
    app.router.add_post("/read", _read)
    served = ServedApi(app)
    yield served
    served.close()


@pytest.mark.parametrize("query", ["", "?wait=eof"])
def test_body_is_whole_and_aligned(api: ServedApi, query: str) -> None:
    reply = api.request("POST", f"/read{query}", BODY, {"Content-Type": "application/octet-stream"})
    assert reply.status == 200, reply.body
    answer = json.loads(reply.body)
    assert (answer["aligned"], answer["matches"]) == (True, True)
    if query:
        # One buffer of the body's size: the chunks waiting in the stream are not joined into another
        # (while the body is still arriving, the socket's own chunks are allocated meanwhile).
        assert len(BODY) <= answer["allocated"] < 1.25 * len(BODY)
