"""The serving benchmark's load generators against a real HTTP server (aiohttp on 127.0.0.1): the
open loop with plain requests, ``Expect: 100-continue`` answered with 100 or refused outright, and
early refusals of a body still being sent; the closed loop's keep-alive clients."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from bench.http_load import Request, closed_loop
from bench.open_loop import open_loop

BODY = bytes(range(256)) * 4096  # 1 MiB: more than one send's worth, as a tensor body is


async def accept(request: web.Request) -> web.Response:
    body = await request.read()
    if body != BODY:
        return web.Response(status=400, text="body damaged")
    return web.Response(text="ok")


async def refuse(request: web.Request) -> web.Response:
    return web.Response(status=503, headers={"Retry-After": "1"}, text="busy")


async def refuse_unannounced(request: web.Request) -> web.Response:
    # Answers before the body is read, as the gateway's front door does; aiohttp drains the rest.
    return web.Response(status=503, text="busy, and no Retry-After")


async def cancel_the_rest() -> None:
    """As ``asyncio.run`` does at its end: aiohttp leaves the handler of a request refused on its
    expectation waiting for a body that never comes, after its client has gone."""
    rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    app = web.Application()
    app.router.add_post("/accept", accept)
    app.router.add_post("/refuse", accept, expect_handler=refuse)
    app.router.add_post("/refuse-early", refuse_unannounced)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, shutdown_timeout=1)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    asyncio.run_coroutine_threadsafe(cancel_the_rest(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.mark.parametrize("expect_continue", [False, True])
def test_every_request_is_sent_whole_and_answered(port: int, expect_continue: bool) -> None:
    outcome = open_loop(port, Request("/accept", BODY, {}), 40, 0.5, expect_continue=expect_continue)

    assert outcome["requests"] == 20
    assert outcome["statuses"] == {"200": 20}
    assert outcome["admitted_latency"]["count"] == 20
    assert outcome["client_cpu_ms_per_request"] > 0


def test_a_request_refused_on_its_expectation_is_answered_and_its_connection_not_reused(port: int) -> None:
    outcome = open_loop(port, Request("/refuse", BODY, {}), 40, 0.5, expect_continue=True)

    assert outcome["statuses"] == {"503": 20}
    assert outcome["retry_after_missing"] == 0
    assert outcome["rejected_latency"]["count"] == 20


def test_an_early_refusal_is_counted_and_its_missing_retry_after_noticed(port: int) -> None:
    outcome = open_loop(port, Request("/refuse-early", BODY, {}), 40, 0.5)

    assert outcome["statuses"] == {"503": 20}
    assert outcome["retry_after_missing"] == 20
    assert outcome["admitted_per_s"] == 0


def test_closed_loop_clients_keep_their_connections_and_count_every_answer(port: int) -> None:
    outcome, latencies = asyncio.run(closed_loop(port, Request("/accept", BODY, {}), 3, 5.0, max_requests=30))

    assert outcome["statuses"] == {"200": outcome["items"]}
    assert 30 <= outcome["items"] <= 32  # three clients each finish the request they are in
    assert len(latencies) == outcome["items"]


def test_requests_a_server_never_answers_are_given_up_after_the_drain_and_counted_failed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, reads nothing
        port = silent.getsockname()[1]

        outcome = open_loop(port, Request("/accept", BODY, {}), 10, 0.3, drain_s=0.5)

    assert outcome["statuses"] == {"0": 3}
    assert outcome["admitted_latency"] == {"count": 0}
