"""Connections that hold a file descriptor without sending a request: a connection that has not sent a
whole request head within ``HEAD_TIMEOUT_S`` is closed and counted, where the keep-alive (75 s) used
to hold it (gateway/api/door_connection.py); a connection that sent its request keeps its keep-alive."""

from __future__ import annotations

import socket
import time

import pytest
from prometheus_client import CollectorRegistry

from gateway.api import door_connection, request_head
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.harness import ServedApi

HEAD_TIMEOUT_S = 0.5
"""The tests' timeout: the default's behaviour, ten times faster."""
PATIENCE_S = HEAD_TIMEOUT_S * 6
READY = b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(autouse=True)
def short_head_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(door_connection, "HEAD_TIMEOUT_S", HEAD_TIMEOUT_S)


def closed_within(connection: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``connection`` (reading what it answered first), or None when
    it is still open after ``seconds``."""
    started = time.monotonic()
    connection.settimeout(0.05)
    while time.monotonic() - started < seconds:
        try:
            if connection.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def timeouts_counted(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("edge_gateway_http_head_timeouts_total") or 0.0


def test_the_default_is_a_few_seconds() -> None:
    assert 1.0 <= request_head.HEAD_TIMEOUT_S <= 10.0


def test_a_connection_that_sends_nothing_is_closed_and_counted(
    api: ServedApi, registry: CollectorRegistry
) -> None:
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as connection:
        waited = closed_within(connection, PATIENCE_S)
    assert waited is not None, "an idle connection stayed open"
    assert waited >= HEAD_TIMEOUT_S * 0.8
    assert timeouts_counted(registry) == 1


def test_a_head_trickled_in_is_closed_at_the_timeout(api: ServedApi, registry: CollectorRegistry) -> None:
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as connection:
        started = time.monotonic()
        # Given a head sent a few bytes at a time, never ending
        for piece in (b"GET /v2/health/ready HTTP/1.1\r\n", b"Host: 127", b".0.0.1\r\n", b"X-A: 1\r\n"):
            connection.sendall(piece)
            time.sleep(HEAD_TIMEOUT_S / 4)
        # then it is closed once the timeout has passed since the accept
        waited = closed_within(connection, PATIENCE_S)
    assert waited is not None, "a head that never ends held its connection"
    assert time.monotonic() - started < PATIENCE_S
    assert timeouts_counted(registry) == 1


def test_a_head_handed_to_aiohttp_in_part_is_closed_at_the_timeout(api: ServedApi) -> None:
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as connection:
        # Given a head longer than the front door reads (handed to aiohttp before it is whole, within
        # aiohttp's own limits on a line and on the number of fields), and no head's end
        fields = b"".join(b"X-Field-%d: %s\r\n" % (index, b"v" * 150) for index in range(110))
        assert len(fields) > request_head.MAX_HEAD_BYTES
        connection.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields)
        waited = closed_within(connection, PATIENCE_S)
    assert waited is not None, "a head aiohttp waits for held its connection"


def test_a_later_head_begun_and_not_finished_is_closed(api: ServedApi, registry: CollectorRegistry) -> None:
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as connection:
        connection.sendall(READY)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(HEAD_TIMEOUT_S * 2)  # kept alive, past the head timeout
        connection.sendall(b"GET /v2/health/ready HTTP/1.1\r\n")
        waited = closed_within(connection, PATIENCE_S)
    assert waited is not None, "a later head that never ends held its connection"
    assert timeouts_counted(registry) == 1


def test_a_connection_that_sent_its_request_keeps_its_keep_alive(
    make_api: ApiFactory, registry: CollectorRegistry
) -> None:
    api = make_api()
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as connection:
        # Given a request answered by aiohttp (the health route), then a quiet client
        connection.sendall(READY)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")
        # then the connection outlives the head timeout, and still answers
        assert closed_within(connection, HEAD_TIMEOUT_S * 3) is None
        connection.sendall(READY)
        connection.settimeout(5)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")
    assert timeouts_counted(registry) == 0
