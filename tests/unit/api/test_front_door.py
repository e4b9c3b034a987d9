"""The front door over real sockets: overload refusals from the request head alone, admitted inference
requests answered as aiohttp's handler answers them, and every other request handed to aiohttp
unchanged (gateway/api/front_door.py, gateway/api/door_infer.py)."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
from collections.abc import Callable
from typing import ClassVar

import pytest
import uvloop
from prometheus_client import CollectorRegistry, generate_latest

from gateway.api import admission, body_drain, body_stall, door_connection
from gateway.api.app import create_app
from gateway.api.door_infer import DoorInfer
from gateway.api.request_head import MAX_HEAD_BYTES, parse_head
from gateway.config import AdmissionConfig, HttpConfig
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeBackend, infer_body
from tests.unit.api.harness import ServedApi

INFER = "/v2/models/affine/infer"
BODY = json.dumps(infer_body([[1, 2, 3, 4]])).encode()
OPEN = AdmissionConfig(rate_per_s=1000, burst=1000, high_watermark=0.5)
READY = b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def post(path: str = INFER, body: bytes = BODY, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


class Client:
    """One raw keep-alive connection: send bytes as they are, read whole responses."""

    def __init__(self, api: ServedApi) -> None:
        self.socket = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.socket.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
        }
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split(" ")[1]), headers, body

    def closed(self) -> bool:
        """The server closed the connection (after any response still unread)."""
        self.socket.settimeout(5)
        try:
            return self.socket.recv(1) == b""
        except ConnectionResetError:
            return True

    def _more(self) -> None:
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a whole response")
        self.buffer += chunk

    def close(self) -> None:
        self.socket.close()


def reached_the_backend(backend: FakeBackend) -> None:
    """Wait (at most 10 s) until a request is with the backend."""
    deadline = time.monotonic() + 10
    while backend.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backend.calls > 0


def by_aiohttp(headers: dict[str, str]) -> bool:
    """aiohttp names itself in ``Server``; the front door writes no such header."""
    return "aiohttp" in headers.get("server", "")


def test_an_overload_refusal_keeps_the_connection_for_the_next_request(
    make_api: ApiFactory, backend: FakeBackend, registry: CollectorRegistry
) -> None:
    api = make_api(admission=OPEN)
    backend.fill = 0.9
    client = Client(api)
    # The body comes in pieces, the last with the whole next request behind it.
    first = post()
    client.send(first[:40])
    client.send(first[40:100])
    client.send(first[100:] + post())
    for _ in range(2):
        status, headers, body = client.response()
        assert status == 503
        assert headers["retry-after"] == "1"
        assert "connection" not in headers
        assert "watermark" in json.loads(body)["error"]
        assert not by_aiohttp(headers)
    # Once the queue drains, the same connection is served, by the front door too.
    backend.fill = 0.0
    client.send(post())
    status, headers, body = client.response()
    assert status == 200
    assert not by_aiohttp(headers)
    assert json.loads(body)["outputs"][0]["data"] == [3, 5, 7, 9]
    assert backend.calls == 1
    client.send(READY)
    assert by_aiohttp(client.response()[1])
    # aiohttp has had the connection, and lets go of it for the front door's next answer.
    backend.fill = 0.9
    client.send(post())
    status, headers, _ = client.response()
    assert (status, "connection" in headers, by_aiohttp(headers)) == (503, False, False)
    client.close()
    text = generate_latest(registry).decode()
    assert 'edge_gateway_http_rejections_total{reason="overloaded"} 3.0' in text
    assert (
        'edge_gateway_http_requests_total{method="POST",route="/v2/models/{name}/infer",status="503"} 3.0'
        in text
    )


def test_the_versioned_route_and_the_wait_budget_are_judged_as_the_middleware_does(
    make_api: ApiFactory, backend: FakeBackend, registry: CollectorRegistry
) -> None:
    api = make_api(admission=OPEN)
    backend.service_s, backend.wait_s = 0.040, 0.050
    client = Client(api)
    client.send(post("/v2/models/affine/versions/1/infer?trace=1"))
    status, headers, body = client.response()
    assert (status, headers["retry-after"], by_aiohttp(headers)) == (503, "1", False)
    assert "expected wait for a worker is 50 ms, over the 40 ms" in json.loads(body)["error"]
    client.close()
    text = generate_latest(registry).decode()
    assert 'edge_gateway_http_rejections_total{reason="queue_wait"} 1.0' in text
    route = 'route="/v2/models/{name}/versions/{version}/infer"'
    assert f'edge_gateway_http_requests_total{{method="POST",{route},status="503"}} 1.0' in text


def test_the_rate_limit_is_the_same_whoever_answers(make_api: ApiFactory, backend: FakeBackend) -> None:
    api = make_api(admission=AdmissionConfig(rate_per_s=0.1, burst=2, high_watermark=0.5))
    client = Client(api)
    # Admitted, and answered by the front door: one token.
    client.send(post())
    assert client.response()[0] == 200
    backend.fill = 0.9
    client.close()
    client = Client(api)
    client.send(post())  # the last token, then refused for the queue
    assert client.response()[0] == 503
    client.send(post())
    status, headers, _ = client.response()
    assert (status, headers["retry-after"], by_aiohttp(headers)) == (429, "10", False)
    client.close()


def test_a_client_that_asks_first_is_refused_and_the_connection_closed(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    api = make_api(admission=OPEN)
    backend.fill = 0.9
    client = Client(api)
    client.send(post(body=b"", extra="Expect: 100-continue\r\n").replace(b"Length: 0", b"Length: 60"))
    status, headers, _ = client.response()
    assert (status, headers["connection"], by_aiohttp(headers)) == (503, "close", False)
    assert client.closed()
    client.close()
    assert backend.calls == 0


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # Each goes to aiohttp, which answers as it always has (the queue is full throughout).
        (post(extra="Cookie: session=nothing\r\n"), 503),
        (post(extra="Origin: http://elsewhere.example\r\n"), 403),
        (post(extra="Sec-Fetch-Site: cross-site\r\n"), 403),
        (post(body=b"x" * 2048).replace(b"Content-Length: 2048", b"Content-Length: 99999999"), 413),
        (
            f"POST {INFER} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + f"{len(BODY):x}\r\n".encode()
            + BODY
            + b"\r\n0\r\n\r\n",
            503,
        ),
        (post().replace(b"HTTP/1.1", b"HTTP/1.0", 1), 503),
        (post("/v1/detect?model=affine", b"\xff\xd8\xff"), 503),
        (READY, 200),
    ],
)
def test_what_the_front_door_is_not_sure_of_goes_to_aiohttp(
    make_api: ApiFactory, backend: FakeBackend, request_bytes: bytes, status: int
) -> None:
    api = make_api(admission=OPEN)
    backend.fill = 0.9
    client = Client(api)
    client.send(request_bytes)
    answer, headers, _ = client.response()
    assert (answer, by_aiohttp(headers)) == (status, True)
    client.close()


def test_with_tokens_a_request_without_a_valid_one_is_unauthorized_not_overloaded(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    api = make_api(tokens=frozenset({"s3cret"}), admission=OPEN)
    backend.fill = 0.9
    client = Client(api)
    client.send(post(extra="Authorization: Bearer wrong\r\n"))
    assert client.response()[0] == 401
    client.close()
    client = Client(api)
    client.send(post(extra="Authorization: Bearer s3cret\r\n"))
    status, headers, _ = client.response()
    assert (status, by_aiohttp(headers)) == (503, False)
    client.close()


def test_a_head_that_arrives_while_aiohttp_answers_waits_its_turn(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    # A pipelining client: the second request comes before the first is answered, and the queue
    # fills meanwhile. Its 503 must come after the first answer, so aiohttp gives it. (The cookie
    # sends the first to aiohttp's session check.)
    api = make_api(admission=OPEN)
    backend.delay_s = 1.0
    client = Client(api)
    client.send(post(extra="Cookie: theme=dark\r\n"))
    reached_the_backend(backend)
    backend.fill = 0.9
    client.send(post())
    first, second = client.response(), client.response()
    assert first[0] == 200
    assert json.loads(first[2])["outputs"][0]["data"] == [3, 5, 7, 9]
    assert (second[0], by_aiohttp(second[1])) == (503, True)
    client.close()


def served(
    backend: FakeBackend, loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
) -> ServedApi:
    """A gateway of its own (not ``make_api``'s), on the given event loop, for tests that close it."""
    app = create_app(
        http=HttpConfig(),
        admission=OPEN,
        inference=backend,
        cameras=None,
        events=None,
        registry=CollectorRegistry(),
    )
    return ServedApi(app, loop_factory)


def test_shutdown_closes_the_connections_only_the_front_door_served(backend: FakeBackend) -> None:
    api = served(backend)
    backend.fill = 0.9
    client = Client(api)
    client.send(post())
    assert client.response()[0] == 503
    api.close()
    assert client.closed()
    client.close()


LOOPS = [pytest.param(asyncio.new_event_loop, id="asyncio"), pytest.param(uvloop.new_event_loop, id="uvloop")]


class CountedDrain(body_drain.BodyDrain):
    dropped: ClassVar[list[int]] = []

    def drop(self, count: int, done: Callable[[bool], None]) -> None:
        CountedDrain.dropped.append(count)
        super().drop(count, done)


@pytest.fixture
def drains(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The byte counts the front door had dropped in the kernel."""
    CountedDrain.dropped = []
    monkeypatch.setattr(door_connection, "BodyDrain", CountedDrain)
    return CountedDrain.dropped


@pytest.mark.skipif(not body_drain.available(), reason="MSG_TRUNC on TCP is Linux's")
@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_refused_body_is_dropped_in_the_kernel_and_the_next_request_read_whole(
    backend: FakeBackend, drains: list[int], loop_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    api = served(backend, loop_factory)
    backend.fill = 0.9
    client = Client(api)
    large = post(body=bytes(range(256)) * 12_000)  # 3 MB: far more than one read or the scratch
    client.send(large[:2000])
    assert client.response()[0] == 503  # answered from the head, the body still to come
    for start in range(2000, len(large) - 50_000, 700_000):
        client.send(large[start : min(start + 700_000, len(large) - 50_000)])
        time.sleep(0.01)
    # The body's end and two more requests in one piece: the drain must stop at the body's end.
    client.send(large[-50_000:] + post(body=b"x" * 700) + post())
    assert [client.response()[0] for _ in range(2)] == [503, 503]
    backend.fill = 0.0
    client.send(post())
    status, headers, body = client.response()
    assert (status, by_aiohttp(headers)) == (200, False)
    assert json.loads(body)["outputs"][0]["data"] == [3, 5, 7, 9]
    assert sum(drains) > 2_900_000  # nearly all of the 3 MB body
    client.close()
    api.close()


@pytest.mark.skipif(not body_drain.available(), reason="MSG_TRUNC on TCP is Linux's")
@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_client_that_leaves_mid_body_is_let_go_and_others_are_served(
    backend: FakeBackend, drains: list[int], loop_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    api = served(backend, loop_factory)
    backend.fill = 0.9
    client = Client(api)
    large = post(body=b"y" * 2_000_000)
    client.send(large[:1_000_000])
    assert client.response()[0] == 503
    client.close()
    other = Client(api)
    other.send(large)
    assert other.response()[0] == 503
    backend.fill = 0.0
    other.send(post())
    assert other.response()[0] == 200
    other.close()
    assert len(drains) >= 2
    deadline = time.monotonic() + 5
    while len(api.door) > 1 and time.monotonic() < deadline:  # the first client's is gone
        time.sleep(0.01)
    assert len(api.door) <= 1
    api.close()


RESERVED_S = 2.0
BODY_STALL_S = 5.0


@pytest.mark.parametrize("extra", ["", "Cookie: theme=dark\r\n"], ids=["front door", "aiohttp"])
def test_a_stalled_body_stops_counting_as_work_ahead_and_is_answered_408(
    api: ServedApi, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    # Margins wide enough for a loaded machine: the two requests must be seen admitted before their
    # reservations lapse, and their places must lapse long before their bodies are given up on.
    monkeypatch.setattr(admission, "RESERVED_FOR_S", RESERVED_S)
    monkeypatch.setattr(body_stall, "BODY_STALL_S", BODY_STALL_S)
    backend.service_s = 0.040
    # Given two requests admitted from their heads whose bodies stop short of their end: counted
    # as 80 ms of work ahead against a 40 ms budget, they kept the model refused for as long as
    # their connections stayed open
    stalled = [Client(api) for _ in range(2)]
    try:
        started = time.monotonic()
        # One at a time, each seen checked before the next is sent: a request sent meanwhile would
        # hold a place of its own, and the second stalled one would be refused against it.
        for ahead, client in enumerate(stalled):
            client.send(post(extra=extra)[:-10])
            while backend.pending_seen[ahead:] == []:
                assert time.monotonic() - started < RESERVED_S / 2, "a stalled request was never checked"
                time.sleep(0.005)
        assert backend.pending_seen == [{}, {"affine": 1}]
        assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 503
        assert backend.pending_seen[-1] == {"affine": 2}, "the two stalled requests were not both admitted"
        assert time.monotonic() - started < RESERVED_S, "checked too late to see both still admitted"
        # Then, once their reservations lapsed, and long before their bodies are given up on, the
        # next request is admitted and sees no work ahead
        while True:
            status = api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status
            if backend.pending_seen[-1] == {}:
                break
            assert time.monotonic() - started < BODY_STALL_S - 1, "the stalled requests' places never lapsed"
            time.sleep(0.05)
        assert status == 200
        # And each stalled request is answered 408 and its connection closed
        for client in stalled:
            status, _, body = client.response()
            assert status == 408
            assert f"no body bytes arrived for {BODY_STALL_S:g} s" in json.loads(body)["error"]
            assert client.closed()
    finally:
        # A failure above would otherwise leave the sockets to the collector, and their
        # ResourceWarning would fail whichever test it happened in.
        for client in stalled:
            client.close()


def test_an_answered_request_leaves_nothing_holding_its_body(api: ServedApi) -> None:
    # The body watch's timer once held each request, and its buffer, for ten seconds after the
    # answer: 560 MB at 47 requests a second of 1.2 MB.
    client = Client(api)
    for _ in range(5):
        client.send(post())
        assert client.response()[0] == 200
    # The server's thread may still be leaving its last answer's callback: look again, briefly.
    deadline = time.monotonic() + 5
    while True:
        gc.collect()
        held = [kept for kept in gc.get_objects() if isinstance(kept, DoorInfer)]
        if not held or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert held == []
    client.close()


def test_a_head_whose_end_straddles_two_reads_is_read_whole(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    api = make_api(admission=OPEN)
    backend.fill = 0.9
    client = Client(api)
    request = post()
    split = request.index(b"\r\n\r\n") + 2
    client.send(request[:split])
    time.sleep(0.05)
    client.send(request[split:] + post())
    for _ in range(2):
        status, headers, _ = client.response()
        assert (status, by_aiohttp(headers)) == (503, False)
    client.close()


@pytest.mark.parametrize(
    "start",
    [
        bytes.fromhex("160301") + b"\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(32),  # a TLS hello
        b"GET /v2/health/ready HTTP/1.1\nHost: 127.0.0.1\n",  # no head's end (CRLF CRLF) to come
        b"\x00\x00POST ",
    ],
    ids=["tls-hello", "bare-lf", "nul"],
)
def test_what_cannot_begin_a_head_is_answered_by_aiohttp_at_once(make_api: ApiFactory, start: bytes) -> None:
    api = make_api(admission=OPEN)
    client = Client(api)
    client.socket.settimeout(5)  # the door's idle timeout is 75 s
    client.send(start)
    status, headers, _ = client.response()
    assert (status, by_aiohttp(headers)) == (400, True)
    client.close()


def test_a_head_longer_than_the_door_reads_goes_to_aiohttp_whole(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    api = make_api(admission=OPEN)
    client = Client(api)
    request = post(
        extra="X-Padding: " + "a" * 7000 + "\r\nX-Again: " + "c" * 4000 + "\r\nX-More: " + "b" * 7000 + "\r\n"
    )
    assert request.index(b"\r\n\r\n") > MAX_HEAD_BYTES
    client.send(request[:9000])
    time.sleep(0.05)
    client.send(request[9000:])
    status, headers, body = client.response()
    assert (status, by_aiohttp(headers)) == (200, True)
    assert json.loads(body)["outputs"][0]["data"] == [3, 5, 7, 9]
    client.close()


@pytest.mark.parametrize(
    "head",
    [
        b"POST /v2/models/a/infer HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /v2/models/a/infer HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n",
        b"POST /v2/models/a/infer HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /v2/models/a/infer HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
        b"POST /v2/models/a/infer HTTP/1.1\r\nNo colon\r\n\r\n",
        b"POST /v2/models/a/infer HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        b"POST  /v2/models/a/infer HTTP/1.1\r\n\r\n",
        # aiohttp answers each of these 400 (RFC 9112, 3.2 and 2.2; RFC 9110, 5.5 and 5.6.2).
        b"POST /v2/models/a/infer HTTP/1.1\r\nContent-Length: 2\r\n\r\n",
        b"POST /v2/models/a/infer HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"POST /v2/models/a/infer HTTP/1.1\r\nHost: a\nContent-Length: 2\r\n\r\n",
        b"POST /v2/models/a/infer HTTP/1.1\r\nHost: a\rContent-Length: 2\r\n\r\n",
        b"POST /v2/models/a/infer HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
        b"POST /v2/models/a/in\x7ffer HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /v2/models/\u00e9/infer HTTP/1.1\r\nHost: a\r\n\r\n".encode(),
        b"POST /v2/models/a/infer HTTP/1.1\r\nHost: a\r\nContent(Length): 2\r\n\r\n",
        # More digits than int() reads: raised inside buffer_updated, the connection dropped unanswered.
        b"POST /v2/models/a/infer HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
    ],
)
def test_a_head_the_front_door_cannot_read_plainly_is_not_judged(head: bytes) -> None:
    assert parse_head(head) is None


def test_the_model_is_read_from_the_path_only() -> None:
    parsed = parse_head(
        b"POST /v2/models/face-detector/versions/2/infer?x=/infer HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    assert parsed is not None
    assert (parsed.model, parsed.versioned, parsed.content_length) == ("face-detector", 1, 0)
    for target in ("/v2/models/a%2Fb/infer", "/v2/models//infer", "/v2/models/a/infer/more", "/v2/models/a"):
        parsed = parse_head(f"POST {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        assert parsed is not None, target
        assert parsed.model is None, target
