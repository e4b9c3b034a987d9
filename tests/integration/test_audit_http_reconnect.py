"""The audit HTTP API over PostgreSQL when its connection is dropped (a database restart, a
failover, an idle connection cut): the first request after it was answered 503 "the audit store
cannot be read", though the next one reconnected and succeeded. A read is repeated once on a new
connection, so only a database that stays unreachable is an error."""

from __future__ import annotations

import json

import psycopg

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.protocol.alerts import ZERO_HASH, build_alert_payload
from tests.support.audit_device import event
from tests.support.fleet_server import fleet_server
from tests.support.postgres import PostgresServer

KEY = bytes(range(32))


def drop_connections(server: PostgresServer) -> None:
    with psycopg.connect(server.url(), autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname IS NOT NULL"
        )


def test_a_dropped_database_connection_is_not_an_error_to_the_next_request() -> None:
    with PostgresServer() as postgres:
        # Given a store holding one alert, read through the HTTP API
        url = postgres.create_database()
        writer = AuditStore.open(url, {"box": KEY})
        _, payload = build_alert_payload("box", 1, event(1), ZERO_HASH, KEY)
        writer.ingest([ReceivedMessage("edge/box/alerts", payload, 1_780_000_001.0)])
        writer.close()
        with fleet_server(url, {"box": KEY}, "token") as server:
            assert server.get("/v1/devices").status == 200

            # When the database drops every connection, then each route still answers
            for path in ("/v1/devices", "/v1/fleet", "/v1/devices/box", "/v1/devices/box/alerts"):
                drop_connections(postgres)
                answer = server.get(path)
                assert answer.status == 200, (path, answer.body)
            assert json.loads(server.get("/v1/devices/box/alerts").body)["alerts"][0]["seq"] == 1

            # and one that stays down is still a 503 naming the problem
            postgres.stop()
            answer = server.get("/v1/fleet")
            assert answer.status == 503
            assert json.loads(answer.body)["error"].startswith("the audit store cannot be read")
