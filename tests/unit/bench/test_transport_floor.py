"""The transport floor answers the benchmark's client as the gateway would, byte for byte in size."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from bench.http_load import Connection, Request
from bench.serving_load import FloorProcess

ANSWER = bytes(range(256)) * 700  # about the gateway's answer to the benchmark's request (185 KB)


@pytest.fixture(scope="module")
def floor() -> Iterator[FloorProcess]:
    process = FloorProcess(ANSWER)
    try:
        yield process
    finally:
        process.close()


def test_every_request_on_one_connection_gets_the_answer_after_its_whole_body(floor: FloorProcess) -> None:
    request = Request("/v2/models/m/infer", b"x" * 1_228_900, {"Inference-Header-Content-Length": "100"})

    async def three() -> list[tuple[int, bytes]]:
        connection = Connection(floor.port)
        try:
            return [((reply := await connection.send(request)).status, reply.body) for _ in range(3)]
        finally:
            connection.close()

    assert asyncio.run(three()) == [(200, ANSWER)] * 3


def test_a_body_in_pieces_is_read_to_its_end_before_the_answer(floor: FloorProcess) -> None:
    head = b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
    with socket.create_connection(("127.0.0.1", floor.port), timeout=10) as client:
        client.sendall(head[:20])
        client.sendall(head[20:] + b"01234")
        client.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.recv(1)  # half the body is not a request yet
        client.settimeout(10)
        client.sendall(b"56789")
        received = b""
        while not received.endswith(ANSWER):
            chunk = client.recv(65536)
            assert chunk, "the floor closed the connection"
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(ANSWER))


def test_it_serves_the_next_connection_once_one_closes(floor: FloorProcess) -> None:
    request = Request("/", b"", {})

    async def once() -> int:
        connection = Connection(floor.port)
        try:
            return (await connection.send(request)).status
        finally:
            connection.close()

    assert [asyncio.run(once()) for _ in range(2)] == [200, 200]
