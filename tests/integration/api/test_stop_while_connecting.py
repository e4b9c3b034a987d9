"""Stopping the gateway's HTTP API while clients are still connecting: the connections accepted in
the last loop turn before the listening socket closed were dropped by asyncio with their sockets
open (a ResourceWarning when collected, and clients left with neither an answer nor a close)."""

from __future__ import annotations

from tests.integration.api.conftest import GatewayFactory
from tests.support.connecting_clients import stop_while_connecting

ROUNDS = 5


def test_a_stop_while_clients_connect_leaves_no_socket_open(make_gateway: GatewayFactory) -> None:
    for _ in range(ROUNDS):
        api = make_gateway().api
        left_open = stop_while_connecting(api.port, "/v2/health/live", api.close)
        assert left_open == []
