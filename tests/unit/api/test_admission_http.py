"""Auth, admission control and deadlines over real HTTP against the fake backend."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gateway.api import admission
from gateway.api.admission import TokenBuckets
from gateway.api.app import create_app
from gateway.api.ports import InferenceOutput
from gateway.api.wait_budget import SHRINK, WINDOW_S
from gateway.config import AdmissionConfig, HttpConfig
from gateway.errors import ConfigError, OverloadedError
from gateway.protocol.bearer import check_bind, load_tokens
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeBackend, infer_body
from tests.unit.api.harness import ServedApi

INFER = "/v2/models/affine/infer"
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_token_bucket_admits_a_burst_then_refills_at_the_rate() -> None:
    buckets = TokenBuckets(rate_per_s=10, burst=3)
    assert [buckets.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 0.0) == pytest.approx(0.1)
    assert buckets.take("b", 0.0) == 0.0, "clients have their own buckets"
    assert buckets.take("a", 0.05) == pytest.approx(0.05)
    assert buckets.take("a", 0.1) == 0.0
    assert buckets.take("a", 100.0) == 0.0
    assert [buckets.take("a", 100.0) for _ in range(3)][-1] > 0, "refill stops at the burst size"


def test_token_bucket_table_is_bounded() -> None:
    buckets = TokenBuckets(rate_per_s=1, burst=1, max_clients=2)
    for client in ("a", "b", "c", "d"):
        buckets.take(client, 0.0)
    assert len(buckets) == 2


def test_tokens_file_and_bind_rule(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# ops team\n{TOKEN}\n\n  other  \n")
    assert load_tokens(path) == frozenset({TOKEN, "other"})
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(ConfigError, match="no tokens"):
        load_tokens(tmp_path / "empty")
    with pytest.raises(ConfigError, match="cannot read"):
        load_tokens(tmp_path / "missing")
    with pytest.raises(ConfigError, match="--insecure"):
        check_bind("0.0.0.0", has_tokens=False, insecure=False)
    check_bind("0.0.0.0", has_tokens=True, insecure=False)
    check_bind("0.0.0.0", has_tokens=False, insecure=True)
    check_bind("::1", has_tokens=False, insecure=False)
    check_bind("localhost", has_tokens=False, insecure=False)


def test_create_app_refuses_a_public_host_without_tokens(backend: FakeBackend, tmp_path: Path) -> None:
    def build(http: HttpConfig, insecure: bool = False) -> object:
        return create_app(
            http=http,
            admission=AdmissionConfig(),
            inference=backend,
            cameras=None,
            events=None,
            registry=CollectorRegistry(),
            insecure=insecure,
        )

    with pytest.raises(ConfigError, match=r"http\.host"):
        build(HttpConfig(host="0.0.0.0"))
    assert build(HttpConfig(host="0.0.0.0"), insecure=True) is not None
    (tmp_path / "tokens").write_text(TOKEN)
    assert build(HttpConfig(host="0.0.0.0", tokens_file=tmp_path / "tokens")) is not None


def test_bearer_auth_guards_everything_but_health(make_api: ApiFactory) -> None:
    api = make_api(tokens=frozenset({TOKEN}))
    assert api.get("/v2/health/live").status == 200
    assert api.get("/v2/health/ready").status == 200
    for path in ("/v2", "/v2/models/affine", "/metrics", "/debug/threads", "/debug/memory", "/v1/cameras"):
        reply = api.get(path)
        assert reply.status == 401, path
        assert reply.headers["WWW-Authenticate"] == "Bearer"
        assert "bearer token" in reply.json()["error"]
        assert api.get(path, {"Authorization": "Bearer wrong"}).status == 401
        assert api.get(path, AUTH).status == 200, path
    assert (
        api.post_json(INFER, infer_body([[1, 2, 3, 4]]), {"Authorization": f"bearer {TOKEN}"}).status == 200
    )


def test_empty_token_bucket_answers_429_with_retry_after(make_api: ApiFactory, backend: FakeBackend) -> None:
    api = make_api(admission=AdmissionConfig(rate_per_s=0.5, burst=2))
    body = infer_body([[1, 2, 3, 4]])
    assert [api.post_json(INFER, body).status for _ in range(2)] == [200, 200]
    reply = api.post_json(INFER, body)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "2"
    assert "rate limit" in reply.json()["error"]
    assert backend.calls == 2
    assert api.get("/v2/health/ready").status == 200, "probes never take tokens"


def test_queue_above_high_watermark_answers_503_before_reading_the_body(
    make_api: ApiFactory, backend: FakeBackend
) -> None:
    api = make_api(admission=AdmissionConfig(rate_per_s=1000, burst=1000, high_watermark=0.5))
    backend.fill = 0.75
    reply = api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "1"
    assert "watermark" in reply.json()["error"]
    reply = api.request("POST", "/v1/detect?model=affine", b"\xff\xd8\xff")
    assert reply.status == 503
    assert backend.calls == 0
    assert api.get("/v2/models/affine").status == 200, "metadata does not queue work"
    backend.fill = 0.5
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200


def test_watermark_is_checked_again_once_the_body_is_in(make_api: ApiFactory, backend: FakeBackend) -> None:
    # Given a queue that fills up while the request's body is being read
    api = make_api(admission=AdmissionConfig(rate_per_s=1000, burst=1000, high_watermark=0.5))
    backend.fills = [0.0, 0.9]
    # When the request is about to be submitted, then it is turned away, not queued
    reply = api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "1"
    assert "watermark" in reply.json()["error"]
    assert backend.calls == 0


def test_backend_overload_is_503_with_its_retry_after(api: ServedApi, backend: FakeBackend) -> None:
    backend.submit_error = OverloadedError("queue full", retry_after_s=2.5)
    reply = api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "3"
    assert reply.json() == {"error": "queue full"}


def test_deadline_header_expiry_is_504(
    api: ServedApi, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = infer_body([[1, 2, 3, 4]])
    reply = api.post_json(INFER, body, {"X-Request-Timeout-Ms": "0"})
    assert reply.status == 504
    assert "deadline" in reply.json()["error"]
    assert backend.calls == 0, "an expired request is not queued"
    # Work that never ends: a server that waits for it rather than for the deadline never answers,
    # so the bound below can leave a loaded or emulated machine seconds.
    unfinished: Future[InferenceOutput] = Future()
    monkeypatch.setattr(backend, "infer", lambda *_arguments, **_keywords: unfinished)
    started = time.monotonic()
    reply = api.post_json(INFER, body, {"X-Request-Timeout-Ms": "50"})
    assert reply.status == 504
    elapsed = time.monotonic() - started
    assert 0.05 <= elapsed < 5.0, "the client hears 504 at its deadline, not when the work ends"
    monkeypatch.undo()
    assert api.post_json(INFER, body, {"X-Request-Timeout-Ms": "5000"}).status == 200


def test_triton_timeout_parameter_is_a_deadline_too(api: ServedApi, backend: FakeBackend) -> None:
    backend.delay_s = 0.2
    body = {**infer_body([[1, 2, 3, 4]]), "parameters": {"timeout": 20_000}}
    assert api.post_json(INFER, body).status == 504


@pytest.mark.parametrize("value", ["soon", "-5", "nan"])
def test_bad_deadline_header_is_400(api: ServedApi, value: str) -> None:
    reply = api.post_json(INFER, infer_body([[1, 2, 3, 4]]), {"X-Request-Timeout-Ms": value})
    assert reply.status == 400
    assert "X-Request-Timeout-Ms" in reply.json()["error"]


def test_rejections_and_requests_are_counted(make_api: ApiFactory, registry: CollectorRegistry) -> None:
    api = make_api(admission=AdmissionConfig(rate_per_s=0.1, burst=1))
    api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
    api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
    text = generate_latest(registry).decode()
    assert 'edge_gateway_http_rejections_total{reason="rate_limited"} 1.0' in text
    assert (
        'edge_gateway_http_requests_total{method="POST",route="/v2/models/{name}/infer",status="200"} 1.0'
        in text
    )
    assert (
        'edge_gateway_http_requests_total{method="POST",route="/v2/models/{name}/infer",status="429"} 1.0'
        in text
    )
    assert 'edge_gateway_http_request_seconds_count{route="/v2/models/{name}/infer",status="429"} 1.0' in text


def send_with_expect(port: int, body: bytes, extra: str = "") -> tuple[bytes, socket.socket]:
    """Headers with ``Expect: 100-continue`` and no body yet; returns the first reply and the socket."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(
        (
            f"POST {INFER} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n{extra}\r\n"
        ).encode()
    )
    return connection.recv(65536), connection


def read_response(connection: socket.socket, received: bytes) -> tuple[bytes, bytes]:
    """One complete response (head, body), going by its Content-Length."""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:]
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head, body


def test_expect_continue_admits_then_reads_the_body(api: ServedApi, backend: FakeBackend) -> None:
    body = json.dumps(infer_body([[1, 2, 3, 4]])).encode()
    first, connection = send_with_expect(api.port, body)
    with connection:
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        connection.sendall(body)
        reply = first[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
        while b'"outputs"' not in reply:
            reply += connection.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200")
    assert backend.calls == 1


def test_expect_continue_rejects_before_the_body_is_sent(make_api: ApiFactory, backend: FakeBackend) -> None:
    api = make_api(admission=AdmissionConfig(rate_per_s=0.1, burst=1, high_watermark=0.5))
    backend.fill = 0.9
    body = json.dumps(infer_body([[1, 2, 3, 4]])).encode()
    first, connection = send_with_expect(api.port, body)
    with connection:
        head, payload = read_response(connection, first)
    assert head.startswith(b"HTTP/1.1 503")
    assert b"Retry-After: 1" in head
    assert b"watermark" in payload
    assert b"Connection: close" in head, "the announced body never comes, so the connection ends"
    # The bucket's one token went to that request; the next is rate limited, also before its body.
    first, connection = send_with_expect(api.port, body)
    connection.close()
    assert first.startswith(b"HTTP/1.1 429")
    assert backend.calls == 0


def test_expect_continue_rejections_are_counted(
    make_api: ApiFactory, backend: FakeBackend, registry: CollectorRegistry
) -> None:
    api = make_api(admission=AdmissionConfig(rate_per_s=1000, burst=1000, high_watermark=0.5))
    backend.fill = 0.9
    _, connection = send_with_expect(api.port, b"{}")
    connection.close()
    text = generate_latest(registry).decode()
    assert (
        'edge_gateway_http_requests_total{method="POST",route="/v2/models/{name}/infer",status="503"} 1.0'
        in text
    )
    assert 'edge_gateway_http_rejections_total{reason="overloaded"} 1.0' in text


def test_unknown_expectation_is_417_json(api: ServedApi) -> None:
    connection = socket.create_connection(("127.0.0.1", api.port), timeout=10)
    with connection:
        connection.sendall(
            f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: other\r\n\r\n".encode()
        )
        reply = connection.recv(65536)
    assert reply.startswith(b"HTTP/1.1 417")


def test_a_request_whose_wait_exceeds_one_service_time_is_refused_before_its_body(
    api: ServedApi, backend: FakeBackend, registry: CollectorRegistry
) -> None:
    # Given a model measured at 40 ms per item and 50 ms of work ahead of a new item
    backend.service_s, backend.wait_s = 0.040, 0.050
    # When a request arrives, then it is refused from its headers, with when to come back
    reply = api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "1"
    assert "expected wait for a worker is 50 ms, over the 40 ms" in reply.json()["error"]
    assert backend.calls == 0
    reply = api.request("POST", "/v1/detect?model=affine", b"\xff\xd8\xff")
    assert reply.status == 503, "/v1/detect queues work too"
    text = generate_latest(registry).decode()
    assert 'edge_gateway_http_rejections_total{reason="queue_wait"} 2.0' in text
    # And once the work ahead fits one service time, it is admitted
    backend.wait_s = 0.030
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200


def test_an_admitted_request_holds_its_place_until_it_is_queued(api: ServedApi, backend: FakeBackend) -> None:
    backend.service_s = 0.040
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200
    # The estimate was asked once (by the front door, which admits the request and answers it) with
    # nothing pending; the request's own place was given back once it was queued, so the next
    # request sees an empty estimate again.
    assert backend.pending_seen == [{}]
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200
    assert backend.pending_seen == [{}, {}]


def test_requests_uploading_together_count_each_other(
    api: ServedApi, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its place is held far longer than the test takes on a loaded machine: at the default second,
    # a slow second request would find it given back.
    monkeypatch.setattr(admission, "RESERVED_FOR_S", 30.0)
    # Given a request admitted from its headers whose body has not arrived yet
    backend.service_s = 0.040
    first, connection = send_with_expect(api.port, json.dumps(infer_body([[1, 2, 3, 4]])).encode())
    with connection:
        assert first.startswith(b"HTTP/1.1 100 Continue")
        # When a second request arrives meanwhile, then the first one's item counts as work ahead:
        # 40 ms ahead fits the 40 ms budget, two such requests would not
        assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200
        assert backend.pending_seen[-1] == {"affine": 1}
        backend.wait_s = 0.001
        reply = api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
        assert reply.status == 503
        assert "41 ms" in reply.json()["error"]


def test_a_fixed_wait_budget_applies_to_every_model(make_api: ApiFactory, backend: FakeBackend) -> None:
    api = make_api(admission=AdmissionConfig(max_queue_wait_ms=2500))
    backend.service_s, backend.wait_s = 0.001, 2.4
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200
    backend.wait_s = 5.0
    reply = api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "3", "the wait drains to the budget in 2.5 s"


def test_a_model_never_measured_is_admitted(api: ServedApi, backend: FakeBackend) -> None:
    backend.service_s, backend.wait_s = None, 100.0
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200


def test_the_default_budget_shrinks_while_refusals_leave_no_worker_idle(
    api: ServedApi, backend: FakeBackend, registry: CollectorRegistry
) -> None:
    # Given a model measured at 40 ms per item, workers that are never idle, and a refusal
    backend.service_s, backend.idle_s = 0.040, 0.0
    backend.wait_s = 0.050
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 503
    assert registry.get_sample_value("edge_gateway_admission_wait_budget_share") == 1.0
    # When the budget's window has passed, then 36 ms of work ahead no longer fits: demand that
    # keeps every worker busy waits for less than a whole item
    time.sleep(WINDOW_S * 1.2)
    backend.wait_s = 0.036
    reply = api.post_json(INFER, infer_body([[1, 2, 3, 4]]))
    assert reply.status == 503
    assert f"over the {40 * SHRINK:.0f} ms this model is admitted with" in reply.json()["error"]
    assert registry.get_sample_value("edge_gateway_admission_wait_budget_share") == pytest.approx(SHRINK)
    # And once the workers idle while requests are refused, it grows back
    backend.idle_s = 100.0
    time.sleep(WINDOW_S * 1.2)
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200


def test_a_fixed_wait_budget_does_not_move(make_api: ApiFactory, backend: FakeBackend) -> None:
    api = make_api(admission=AdmissionConfig(max_queue_wait_ms=40))
    backend.service_s, backend.idle_s, backend.wait_s = 0.040, 0.0, 0.050
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 503
    time.sleep(WINDOW_S * 1.2)
    backend.wait_s = 0.036
    assert api.post_json(INFER, infer_body([[1, 2, 3, 4]])).status == 200
