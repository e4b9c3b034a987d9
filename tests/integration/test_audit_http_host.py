"""The audit HTTP API without tokens answers only requests whose ``Host`` names the loopback: a page
of another site whose name its DNS then points at 127.0.0.1 (DNS rebinding) read the fleet's devices
and their evidence images. The real app on a loopback port, asked as a browser would ask it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.store import AuditStore
from gateway.config import HttpConfig

TOKEN = "audit-host-token"
PATHS = ["/v1/devices", "/v1/devices/box-1/alerts/1/evidence.jpg", "/"]


@contextmanager
def audit_http(tmp_path: Path, tokens: frozenset[str]) -> Iterator[int]:
    tmp_path.mkdir(exist_ok=True)
    url = f"sqlite:///{tmp_path}/audit.db"
    AuditStore.open(url, {}).close()
    reader = AuditStore.open(url, {})
    server = AuditHttpServer(
        create_app(reader, http=HttpConfig(port=0), tokens=tokens, registry=CollectorRegistry()),
        "127.0.0.1",
        0,
    )
    try:
        yield server.start()
    finally:
        server.stop()
        reader.close()


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("host", ["evil.test", "127.0.0.1.evil.test", "10.0.0.7"])
def test_without_tokens_a_request_for_another_name_is_refused(tmp_path: Path, host: str) -> None:
    with audit_http(tmp_path, frozenset()) as port:
        for path in PATHS:
            # When a rebound page asks, it is a 421 naming its Host and what to do
            status, body = get(port, path, {"Host": f"{host}:{port}"})
            assert status == 421, path
            error = json.loads(body)["error"]
            assert f"'{host}:{port}'" in error
            assert "http.tokens_file" in error
            # While the same request for the loopback is answered
            assert get(port, path, {"Host": f"127.0.0.1:{port}"})[0] != 421
        assert get(port, "/v1/devices", {"Host": f"localhost:{port}"})[0] == 200


def test_an_absolute_form_target_naming_another_site_is_refused(tmp_path: Path) -> None:
    with audit_http(tmp_path, frozenset()) as port:
        loopback = {"Host": f"127.0.0.1:{port}"}
        assert get(port, f"http://evil.test:{port}/v1/devices", loopback)[0] == 421
        assert get(port, f"http://127.0.0.1:{port}/v1/devices", loopback)[0] == 200


def test_host_is_checked_only_without_tokens(tmp_path: Path) -> None:
    # A rebound page has neither the bearer token nor the session cookie (host-only: the browser
    # keeps it for the name that logged in), so with tokens the token is what is checked.
    with audit_http(tmp_path / "open", frozenset()) as port:
        assert get(port, "/v1/devices", {"Host": f"evil.test:{port}"})[0] == 421
    with audit_http(tmp_path / "tokens", frozenset({TOKEN})) as port:
        rebound = {"Host": f"evil.test:{port}"}
        assert get(port, "/v1/devices", rebound)[0] == 401
        assert get(port, "/v1/devices", {**rebound, "Authorization": f"Bearer {TOKEN}"})[0] == 200
