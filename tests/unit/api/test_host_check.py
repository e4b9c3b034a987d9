"""Without tokens the API answers only requests whose ``Host`` names the loopback (DNS rebinding).

A page of ``http://evil.test:PORT``, its name then pointed at 127.0.0.1, is of the same origin as
the API under that name: it read ``/v1/events`` and saved a camera's zones as ``[]`` into the config
file, as the origin check compares the page's name with the very name it chose. Over real HTTP, with
the ``Host`` a browser would send; the ``/v2`` infer route is read by the front door first."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, HttpConfig, parse_config
from gateway.protocol.bearer import TokenCheck
from gateway.web.host_check import HostCheck
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeBackend, FakeEvents, infer_body
from tests.unit.api.harness import ServedApi
from tests.unit.api.test_console_http import CONFIG, GEOMETRY, Running, editor, put_geometry

INFER = "/v2/models/affine/infer"
TOKEN = "host-test-token"
REBOUND = ["evil.test", "localhost.evil.test", "127.0.0.1.nip.io", "evil.localhost.test", "[::2]", "10.0.0.7"]
"""Hosts a page of another site sends: its own name (whatever it resolves to), or an address that
is not the loopback's."""
LOOPBACK = [
    "127.0.0.1",
    "127.0.0.2",
    "localhost",
    "LocalHost.",
    "console.localhost",
    "[::1]",
    "[::ffff:7f00:1]",
]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    return path


def with_port(host: str, api: ServedApi) -> str:
    return f"{host}:{api.port}"


@pytest.mark.parametrize("host", REBOUND)
def test_without_tokens_a_request_for_another_name_is_refused_before_anything_is_read_or_written(
    make_api: ApiFactory, registry: CollectorRegistry, config_path: Path, host: str
) -> None:
    # Given a gateway without tokens, with events and a camera's zones in its config file
    running = Running(parse_config(config_path.read_text()))
    api = make_api(events=FakeEvents(), geometry=editor(config_path, running))
    before = config_path.read_text()

    # When a rebound page reads the events, saves the zones and loads the console
    events = api.get("/v1/events", {"Host": with_port(host, api)})
    save = put_geometry(api, GEOMETRY, {"Host": with_port(host, api)})
    page = api.get("/", {"Host": with_port(host, api)})

    # Then each is a 421 naming the Host and what to do, and the file is as it was
    for reply in (events, save, page):
        assert reply.status == 421
        error = reply.json()["error"]
        assert repr(with_port(host, api)) in error
        assert "127.0.0.1" in error
        assert "http.tokens_file" in error
    assert config_path.read_text() == before
    assert running.applied == []
    text = generate_latest(registry).decode()
    assert 'edge_gateway_http_rejections_total{reason="misdirected"} 3.0' in text


def test_without_tokens_only_the_loopback_by_one_of_its_names_is_answered(make_api: ApiFactory) -> None:
    api = make_api(events=FakeEvents())
    for host in LOOPBACK:
        assert api.get("/v1/events", {"Host": with_port(host, api)}).status == 200, host
        assert api.get("/v1/events", {"Host": host}).status == 200, host
    assert api.get("/v1/events", {"Host": with_port("evil.test", api)}).status == 421


def test_without_tokens_a_request_without_host_is_answered_as_no_browser_sends_one(
    make_api: ApiFactory,
) -> None:
    # HTTP/1.0 needs no Host (aiohttp answers an HTTP/1.1 request without one 400); a page cannot
    # leave it out, so such a request is a program's on this machine, which may use the API anyway.
    api = make_api(events=FakeEvents())
    answers = []
    for head in (b"GET /v1/events HTTP/1.0\r\n\r\n", b"GET /v1/events HTTP/1.0\r\nHost: evil.test\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", api.port), timeout=10) as connection:
            connection.sendall(head)
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
        answers.append(reply.split(b" ", 2)[1])
    assert answers == [b"200", b"421"]


def test_an_absolute_form_target_naming_another_site_is_refused_whatever_its_host_header(
    make_api: ApiFactory,
) -> None:
    # RFC 9112 has a server go by an absolute-form target's authority, not the header (aiohttp's
    # request.host, which the origin check reads, is the target's): each must name the loopback.
    api = make_api(events=FakeEvents())
    loopback, rebound = with_port("127.0.0.1", api), with_port("evil.test", api)
    answers = []
    for target, host in (
        (f"http://{rebound}", loopback),
        (f"http://{loopback}", rebound),
        (f"http://{loopback}", loopback),
        (f"http://{with_port('[::1]', api)}", with_port("[::1]", api)),
    ):
        head = f"GET {target}/v1/events HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", api.port), timeout=10) as connection:
            connection.sendall(head.encode())
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
        answers.append(reply.split(b" ", 2)[1])
    assert answers == [b"421", b"421", b"200", b"200"]


def test_the_front_door_hands_an_infer_request_for_another_name_to_the_refusal(
    make_api: ApiFactory, backend: FakeBackend, registry: CollectorRegistry
) -> None:
    # Given a gateway without tokens, and an infer request the front door would answer itself
    api = make_api()
    body = json.dumps(infer_body([[1, 2, 3, 4]])).encode()
    headers = {"Content-Type": "application/json"}
    # When a rebound page sends it, it is refused and never reaches a model
    refused = api.request("POST", INFER, body, {**headers, "Host": with_port("evil.test", api)})
    assert refused.status == 421
    assert "'evil.test:" in refused.json()["error"]
    assert backend.calls == 0
    # And one for the loopback's address (tritonclient's Host) is still the front door's
    served = api.request("POST", INFER, body, {**headers, "Host": with_port("127.0.0.1", api)})
    assert served.status == 200
    assert "aiohttp" not in served.headers.get("Server", "")
    assert backend.calls == 1
    text = generate_latest(registry).decode()
    assert 'edge_gateway_http_rejections_total{reason="misdirected"} 1.0' in text


def test_a_client_that_asks_first_is_refused_before_it_uploads(make_api: ApiFactory) -> None:
    api = make_api()
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as connection:
        connection.sendall(
            f"POST {INFER} HTTP/1.1\r\nHost: evil.test:{api.port}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        reply = connection.recv(65536)
    assert reply.startswith(b"HTTP/1.1 421"), reply[:200]


def test_host_is_checked_only_without_tokens(make_api: ApiFactory, backend: FakeBackend) -> None:
    # A rebound page has neither the bearer token nor the session cookie (host-only: the browser
    # keeps it for the name that logged in), so with tokens the token is what is checked.
    open_api = make_api(events=FakeEvents())
    assert open_api.get("/v1/events", {"Host": with_port("evil.test", open_api)}).status == 421
    with served(backend, HttpConfig(), tokens=frozenset({TOKEN})) as api:
        rebound = {"Host": with_port("evil.test", api)}
        assert api.get("/v1/events", rebound).status == 401
        assert api.get("/v1/events", {**rebound, "Authorization": f"Bearer {TOKEN}"}).status == 200


def test_an_insecure_gateway_bound_beyond_the_loopback_takes_its_addresses_not_other_names(
    backend: FakeBackend,
) -> None:
    with served(backend, HttpConfig(host="0.0.0.0"), insecure=True) as api:
        assert api.get("/v1/events", {"Host": with_port("192.168.1.20", api)}).status == 200
        assert api.get("/v1/events", {"Host": with_port("[fd00::20]", api)}).status == 200
        refused = api.get("/v1/events", {"Host": with_port("evil.test", api)})
        assert refused.status == 421
        assert "its IP addresses, localhost or 0.0.0.0" in refused.json()["error"]


@contextmanager
def served(
    backend: FakeBackend, http: HttpConfig, *, tokens: frozenset[str] = frozenset(), insecure: bool = False
) -> Iterator[ServedApi]:
    """An API of its own metrics registry, beside the one ``make_api`` serves (on 127.0.0.1)."""
    app = create_app(
        http=http,
        admission=AdmissionConfig(rate_per_s=1000, burst=1000),
        inference=backend,
        cameras=None,
        events=FakeEvents(),
        registry=CollectorRegistry(),
        tokens=tokens,
        insecure=insecure,
    )
    api = ServedApi(app)
    try:
        yield api
    finally:
        api.close()


@pytest.mark.parametrize(
    ("listen", "host", "answered"),
    [
        ("127.0.0.1", "127.0.0.1:8080", True),
        ("127.0.0.1", "127.255.0.1", True),
        ("127.0.0.1", "[::1]:8080", True),
        ("127.0.0.1", "[::ffff:127.0.0.1]:8080", True),
        ("127.0.0.1", "localhost:", True),
        ("127.0.0.1", "a.b.localhost:8080", True),
        ("::1", "[::1]", True),
        ("localhost", "localhost:8080", True),
        ("127.0.0.1", "::1", False),  # an IPv6 address must be in brackets
        ("127.0.0.1", "[::1:8080", False),
        ("127.0.0.1", "[::1]8080", False),
        ("127.0.0.1", "127.0.0.1:80:80", False),
        ("127.0.0.1", "127.0.0.1:http", False),
        ("127.0.0.1", "", False),
        ("127.0.0.1", ":8080", False),
        ("127.0.0.1", "localhost.evil.test", False),
        ("127.0.0.1", "xlocalhost", False),
        ("127.0.0.1", "l\u043ecalhost", False),  # a Cyrillic o
        ("127.0.0.1", "0.0.0.0:8080", False),
        ("0.0.0.0", "192.168.1.20:8080", True),
        ("0.0.0.0", "gateway.lan:8080", False),
        ("gateway.lan", "Gateway.LAN.:8080", True),
    ],
)
def test_host_values(listen: str, host: str, answered: bool) -> None:
    check = HostCheck(TokenCheck([]), listen)
    assert (check.misdirected(host) is None) is answered
    assert (check.misdirected(host) is None) is answered, "the verdict kept is the same"
    assert HostCheck(TokenCheck([TOKEN]), listen).misdirected(host) is None


def test_the_verdicts_kept_are_bounded() -> None:
    check = HostCheck(TokenCheck([]), "127.0.0.1")
    for port in range(1000):
        assert check.misdirected(f"127.0.0.1:{port}") is None
    assert check.misdirected("evil.test:1") is not None
    assert len(check._taken) <= 64
