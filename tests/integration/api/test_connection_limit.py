"""Idle connections against the real ``edge-gateway serve`` under a low open-files limit: the API
holds at most its derived number of connections, closes the ones beyond at once and counts them,
logs the stretch once, and lists it in ``/v1/status`` while it lasts; the gateway's own files stay
openable (gateway/api/connection_limit.py). Before, the connections took every descriptor: new ones
were reset unlogged and ``/v1/status`` said healthy."""

from __future__ import annotations

import http.client
import json
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from gateway.api.connection_limit import derived_cap
from tests.support.serve import CLIP, Process, serve_cameras, wait_for

OPEN_FILES = 256
"""The limit ``serve`` runs under (soft and hard, so that it cannot raise it)."""
CONNECTIONS = 300
"""More than the derived cap, and than the limit itself."""
PATIENCE_S = 4.0
"""Within the 5 s in which an idle connection is closed for its missing head."""


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Process]:
    camera = {"id": "door", "url": str(CLIP), "detect_fps": 5, "model": "face-detector"}
    process = serve_cameras(
        tmp_path, "limited", [camera], prefix=("prlimit", f"--nofile={OPEN_FILES}:{OPEN_FILES}", "--")
    )
    try:
        yield process
    finally:
        process.kill()


def get(connection: http.client.HTTPConnection, path: str) -> Any:
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    return json.loads(body) if path != "/metrics" else body.decode()


def closed_by_server(connection: socket.socket) -> bool:
    try:
        return connection.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def refused_in(metrics: str) -> float:
    """The connections the API closed at its limit, as ``/metrics`` counts them."""
    counted = (
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('edge_gateway_http_connections_refused_total{reason="limit"}')
    )
    return next(counted, 0.0)


def cameras_when_accepted(port: int) -> Any:
    deadline = time.monotonic() + PATIENCE_S
    while True:
        fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            return get(fresh, "/v1/cameras")["cameras"]
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            fresh.close()


def test_idle_connections_beyond_the_cap_are_closed_counted_and_reported(gateway: Process) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert min(hard, 4096) > CONNECTIONS + 64, "the test process needs the descriptors it opens"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    port = gateway.api_port()
    wait_for(lambda: "streaming" in gateway.output(), "the camera streaming", process=gateway)
    cap = derived_cap(OPEN_FILES)
    assert cap < CONNECTIONS
    # Given a client of the API on a connection it keeps (made before the flood, as the console's)
    console = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert get(console, "/v1/status")["healthy"] is True
    with ExitStack() as stack:
        # when another opens connections and sends nothing on them
        flood = []
        for _ in range(CONNECTIONS):
            connection = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            flood.append(connection)
        started = time.monotonic()
        for connection in flood:
            connection.settimeout(0.001)
        # then those beyond the cap are closed as the server accepts them, each counted, and the
        # others kept (for now); its loop may take a while to accept them all on a busy machine
        closed: set[int] = set()
        while True:
            closed |= {index for index, connection in enumerate(flood) if closed_by_server(connection)}
            metrics = get(console, "/metrics")
            if len(closed) >= CONNECTIONS - cap - 1 and refused_in(metrics) == len(closed):
                break
            assert time.monotonic() - started < PATIENCE_S, (len(closed), refused_in(metrics))
            time.sleep(0.1)
        assert len(closed) <= CONNECTIONS - cap + 8, len(closed)
        # and the kept client sees the problem
        status = get(console, "/v1/status")
        assert time.monotonic() - started < PATIENCE_S
    assert status["healthy"] is False
    assert any(f"limit of {cap} connections" in problem for problem in status["problems"]), status
    assert f"edge_gateway_http_connections_limit {cap}.0" in metrics
    # The stretch is logged once, not per connection
    assert gateway.output().count("HTTP API at its limit") == 1
    # Once the flood is gone (when the server has seen its connections end), a new client gets in,
    # and the camera still reads its file
    cameras = cameras_when_accepted(port)
    assert [camera["state"] for camera in cameras] == ["streaming"], cameras
    assert "Traceback" not in gateway.output()
    console.close()
    assert gateway.terminate() == 0
