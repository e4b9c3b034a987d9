"""The audit HTTP API over a store already filled, on a free loopback port, behind one bearer token:
for tests that put what devices sent straight into the store (``AuditStore.ingest``, the path the
subscriber takes) and then read it through the fleet API or page."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.keys_file import SigningKeys
from gateway.audit.store import AuditStore
from gateway.config import HttpConfig


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class FleetServer:
    base: str
    token: str

    def get(self, path: str) -> Answer:
        """``GET path`` with the token; an error status is an Answer too."""
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), exc.read())


@contextmanager
def fleet_server(url: str, keys: SigningKeys, token: str) -> Iterator[FleetServer]:
    reader = AuditStore.open(url, keys)
    server = AuditHttpServer(
        create_app(reader, http=HttpConfig(port=0), tokens=frozenset({token}), registry=CollectorRegistry()),
        "127.0.0.1",
        0,
    )
    try:
        port = server.start()
        yield FleetServer(f"http://127.0.0.1:{port}", token)
    finally:
        server.stop()
        reader.close()
