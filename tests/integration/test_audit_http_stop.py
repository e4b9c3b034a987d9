"""Stopping the audit HTTP API while clients are still connecting. The connections accepted in the
last loop turn before the listening socket closed were dropped by asyncio with their sockets open
(a ResourceWarning, which failed a browser test collected later), and one that reached aiohttp after
its idle connections were closed held the stop for aiohttp's 60 s grace, past the stop's 10 s."""

from __future__ import annotations

import secrets
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.store import AuditStore
from gateway.config import HttpConfig
from tests.support.connecting_clients import stop_while_connecting

KEY = bytes(range(32))
ROUNDS = 5


def test_a_stop_while_clients_connect_ends_on_time_and_leaves_no_socket_open(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(16)
    reader = AuditStore.open(f"sqlite:///{tmp_path}/audit.db", {"box": KEY})
    try:
        for _ in range(ROUNDS):
            app = create_app(
                reader, http=HttpConfig(port=0), tokens=frozenset({token}), registry=CollectorRegistry()
            )
            server = AuditHttpServer(app, "127.0.0.1", 0)
            port = server.start()
            left_open = stop_while_connecting(port, "/v1/devices", server.stop)
            assert left_open == []
    finally:
        reader.close()
