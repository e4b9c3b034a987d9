"""Admitted inference requests answered by the front door itself (gateway/api/door_infer.py): the
same answers as aiohttp's handler, in order on a connection, and none lost to a client that leaves or
to shutdown."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gateway.api.front_door import SHUTDOWN_TIMEOUT_S
from gateway.domain import ModelState
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeBackend, affine_status, binary_infer_request, infer_body
from tests.unit.api.harness import ServedApi
from tests.unit.api.test_front_door import (
    INFER,
    OPEN,
    READY,
    Client,
    by_aiohttp,
    post,
    reached_the_backend,
    served,
)

ARRAY = np.arange(32, dtype=np.float32).reshape(8, 4)
BINARY, BINARY_HEADERS = binary_infer_request(ARRAY)
JSON_OUT, JSON_OUT_HEADERS = binary_infer_request(ARRAY, outputs=[{"name": "OUTPUT0"}])


def request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


CASES = {
    "binary in and out": request(INFER, BINARY, BINARY_HEADERS),
    "binary in, JSON out": request(INFER, JSON_OUT, JSON_OUT_HEADERS),
    "versioned, JSON": post("/v2/models/affine/versions/2/infer"),
    "unknown model": post("/v2/models/nothing/infer"),
    "unknown version": post("/v2/models/affine/versions/9/infer"),
    "body not JSON": post(body=b"{not json"),
    "header length past the body": request(
        INFER, BINARY, {**BINARY_HEADERS, "Inference-Header-Content-Length": "99999"}
    ),
    "wrong shape": post(body=json.dumps(infer_body([[1, 2, 3]])).encode()),
    "deadline passed": post(extra="X-Request-Timeout-Ms: 0\r\n"),
    "model not ready": post("/v2/models/affine/versions/3/infer"),
}


def answer(api: ServedApi, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """``raw``'s answer on a connection of its own."""
    client = Client(api)
    try:
        client.send(raw)
        return client.response()
    finally:
        client.close()


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_the_front_door_answers_as_aiohttps_handler_does(
    make_api: ApiFactory, backend: FakeBackend, raw: bytes
) -> None:
    backend.statuses["affine", 3] = affine_status(3, ModelState.LOADING, "warming up")
    api = make_api(admission=OPEN)
    door = answer(api, raw)
    # A cookie sends the same request through aiohttp (its session check), which answers it as ever.
    handler = answer(api, raw.replace(b"\r\n\r\n", b"\r\nCookie: theme=dark\r\n\r\n", 1))
    assert not by_aiohttp(door[1])
    assert by_aiohttp(handler[1])
    assert door[0] == handler[0]
    assert door[2] == handler[2]
    for name in ("content-type", "inference-header-content-length", "retry-after"):
        assert door[1].get(name) == handler[1].get(name), name


def test_a_binary_answer_carries_the_outputs_and_is_counted(
    make_api: ApiFactory, backend: FakeBackend, registry: CollectorRegistry
) -> None:
    api = make_api(admission=OPEN)
    status, headers, body = answer(api, CASES["binary in and out"])
    assert (status, headers["content-type"]) == (200, "application/octet-stream")
    split = int(headers["inference-header-content-length"])
    assert json.loads(body[:split])["outputs"][0]["parameters"] == {"binary_data_size": ARRAY.nbytes}
    np.testing.assert_array_equal(np.frombuffer(body[split:], np.float32).reshape(8, 4), 2 * ARRAY + 1)
    text = generate_latest(registry).decode()
    assert (
        'edge_gateway_http_requests_total{method="POST",route="/v2/models/{name}/infer",status="200"} 1.0'
        in text
    )


def test_a_body_in_pieces_and_requests_sent_together_are_answered_in_order(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    api = make_api(admission=OPEN)
    client = Client(api)
    first = request(INFER, BINARY, BINARY_HEADERS)
    head_end = first.index(b"\r\n\r\n") + 4
    # The head cut, then the body cut three times, its end with three whole requests behind it.
    for cut in (first[:30], first[30:head_end], first[head_end : head_end + 7], first[head_end + 7 : -9]):
        client.send(cut)
        time.sleep(0.01)
    client.send(first[-9:] + post() + post("/v2/models/affine/versions/2/infer") + post())
    statuses = [client.response() for _ in range(4)]
    assert [status for status, _, _ in statuses] == [200, 200, 200, 200]
    assert json.loads(statuses[2][2])["model_version"] == "2"
    assert backend.calls == 4
    client.close()


def test_a_head_that_arrives_while_the_door_answers_waits_its_turn(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    api = make_api(admission=OPEN)
    backend.delay_s = 0.5
    client = Client(api)
    client.send(post())
    reached_the_backend(backend)
    backend.fill = 0.9  # judged once the first is answered: refused, after it
    client.send(post())
    first, second = client.response(), client.response()
    assert (first[0], second[0]) == (200, 503)
    assert not by_aiohttp(second[1])
    client.close()


def test_a_client_that_asks_first_gets_continue_then_its_answer(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    api = make_api(admission=OPEN)
    client = Client(api)
    whole = post(extra="Expect: 100-continue\r\n")
    head_end = whole.index(b"\r\n\r\n") + 4
    client.send(whole[:head_end])
    while b"\r\n\r\n" not in client.buffer:
        client.buffer += client.socket.recv(4096)
    interim, _, client.buffer = client.buffer.partition(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 100 Continue"
    client.send(whole[head_end:])
    status, headers, body = client.response()
    assert (status, by_aiohttp(headers)) == (200, False)
    assert json.loads(body)["outputs"][0]["data"] == [3, 5, 7, 9]
    client.close()


def test_connection_close_is_honoured_after_the_answer(make_api: ApiFactory, backend: FakeBackend) -> None:
    api = make_api(admission=OPEN)
    client = Client(api)
    client.send(post(extra="Connection: close\r\n"))
    status, headers, _ = client.response()
    assert (status, headers["connection"]) == (200, "close")
    assert client.closed()
    client.close()


def test_a_client_that_leaves_mid_body_gives_its_place_back(
    make_api: ApiFactory, backend: FakeBackend, registry: CollectorRegistry
) -> None:
    api = make_api(admission=OPEN)
    backend.service_s = 0.040
    client = Client(api)
    client.send(post()[:-5])
    deadline = time.monotonic() + 10
    while api.door.context.queue.pending == {} and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.door.context.queue.pending == {"affine": 1}
    client.close()
    sample = (
        'edge_gateway_http_requests_total{method="POST",route="/v2/models/{name}/infer",status="499"} 1.0'
    )
    while sample not in generate_latest(registry).decode() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sample in generate_latest(registry).decode()
    assert api.door.context.queue.pending == {}
    assert backend.calls == 0


def test_shutdown_answers_an_admitted_request_before_closing(backend: FakeBackend) -> None:
    api = served(backend)
    backend.delay_s = 0.5
    client = Client(api)
    client.send(post())
    reached_the_backend(backend)
    started = time.monotonic()
    api.close()
    assert time.monotonic() - started < SHUTDOWN_TIMEOUT_S
    status, headers, body = client.response()
    assert (status, headers["connection"]) == (200, "close")
    assert json.loads(body)["outputs"][0]["data"] == [3, 5, 7, 9]
    assert client.closed()
    client.close()


def test_a_connection_moves_between_aiohttp_and_the_front_door(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    # tritonclient asks for readiness or metadata on the connection it then infers on.
    api = make_api(admission=OPEN)
    client = Client(api)
    for _ in range(2):
        client.send(READY)
        assert by_aiohttp(client.response()[1])
        assert len(api.aiohttp_connections()) == 1
        client.send(post())
        status, headers, _ = client.response()
        assert (status, by_aiohttp(headers)) == (200, False)
        # aiohttp let go of the connection: its keep-alive clock, which would not see the front
        # door's requests, cannot close it under them.
        assert api.aiohttp_connections() == []
    assert backend.calls == 2
    client.close()
