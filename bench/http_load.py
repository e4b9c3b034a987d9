"""A lean HTTP/1.1 load generator for the serving benchmarks: raw asyncio connections, each request
built once as bytes, responses parsed only as far as the status line, ``Content-Length`` and
``Retry-After``.

The load generator shares the machine's cores with the server it measures, so its own CPU is taken
from the gateway: aiohttp's client spends about as much CPU per 1.2 MB request as the gateway's
event loop does. ``client_cpu_s`` in every result says what this one cost.

Closed loop: each client sends, waits for the answer, and sends again; after a 429 or 503 it waits
what ``Retry-After`` says (whole seconds, as HTTP defines it) when ``honour_retry_after``, as a
well-behaved client does, else it retries at once. The open loop is open_loop.py, without asyncio,
which cost it more CPU per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Request:
    """One POST, ready to send: the head (with or without ``Expect``) and the body."""

    path: str
    body: bytes
    headers: dict[str, str]

    def head(self, port: int, *, expect_continue: bool = False) -> bytes:
        lines = [f"POST {self.path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(self.body)}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if expect_continue:
            lines.append("Expect: 100-continue")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """An answer's status and its headers, names in lower case."""
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    return int(lines[0].split(" ", 2)[1]), headers


@dataclass(slots=True)
class Reply:
    status: int
    retry_after: str | None
    body: bytes
    close: bool


@dataclass(slots=True)
class _Protocol(asyncio.Protocol):
    buffer: bytearray = field(default_factory=bytearray)
    waiter: asyncio.Future[None] | None = None
    transport: asyncio.Transport | None = None
    lost: bool = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP connection's transport: uvloop's is not a subclass of asyncio.Transport, so no check.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def more(self) -> None:
        if self.lost:
            raise ConnectionError("the server closed the connection")
        self.waiter = asyncio.get_running_loop().create_future()
        await self.waiter


class Connection:
    """One keep-alive connection, one request at a time; reconnects after ``Connection: close``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._protocol: _Protocol | None = None

    async def _ensure(self) -> _Protocol:
        if self._protocol is None or self._protocol.lost:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_Protocol, "127.0.0.1", self.port)
            self._protocol = protocol
        return self._protocol

    async def send(self, request: Request, *, expect_continue: bool = False) -> Reply:
        protocol = await self._ensure()
        assert protocol.transport is not None
        protocol.transport.write(request.head(self.port, expect_continue=expect_continue))
        if not expect_continue:
            protocol.transport.write(request.body)
        reply = await self._reply(protocol)
        if expect_continue and reply.status == 100:
            protocol.transport.write(request.body)
            reply = await self._reply(protocol)
        if reply.close:
            self.close()
        return reply

    async def _reply(self, protocol: _Protocol) -> Reply:
        while HEAD_END not in protocol.buffer:
            await protocol.more()
        end = protocol.buffer.index(HEAD_END) + len(HEAD_END)
        status, headers = parse_head(bytes(protocol.buffer[:end]))
        length = int(headers.get("content-length", "0"))
        while len(protocol.buffer) < end + length:
            await protocol.more()
        body = bytes(protocol.buffer[end : end + length])
        del protocol.buffer[: end + length]
        return Reply(status, headers.get("retry-after"), body, headers.get("connection") == "close")

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


async def closed_loop(
    port: int,
    request: Request,
    clients: int,
    seconds: float,
    *,
    honour_retry_after: bool = True,
    max_requests: int = 1_000_000,
) -> tuple[dict[str, Any], list[float]]:
    """``clients`` closed-loop clients for ``seconds``; returns the summary and the latencies of the
    answered (200) requests."""
    latencies: list[float] = []
    rejected: list[float] = []
    statuses: Counter[int] = Counter()
    missing_retry_after = 0
    connections = [Connection(port) for _ in range(clients)]
    for connection in connections[:2]:  # warm the connections' first requests and the model
        await connection.send(request)
    cpu_before = time.process_time()
    end = time.perf_counter() + seconds

    async def one_client(connection: Connection) -> None:
        nonlocal missing_retry_after
        while time.perf_counter() < end and len(latencies) < max_requests:
            started = time.perf_counter()
            reply = await connection.send(request)
            elapsed = time.perf_counter() - started
            statuses[reply.status] += 1
            if reply.status == 200:
                latencies.append(elapsed)
                continue
            rejected.append(elapsed)
            if reply.status in (429, 503):
                if reply.retry_after is None:
                    missing_retry_after += 1
                elif honour_retry_after:
                    await asyncio.sleep(min(float(reply.retry_after), max(0.0, end - time.perf_counter())))

    started = time.perf_counter()
    await asyncio.gather(*(one_client(connection) for connection in connections))
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_before
    for connection in connections:
        connection.close()
    requests = sum(statuses.values())
    return {
        "clients": clients,
        "honour_retry_after": honour_retry_after,
        "items": len(latencies),
        "elapsed_s": elapsed,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "retry_after_missing": missing_retry_after,
        "rejected_latency": percentiles(rejected),
        "client_cpu_ms_per_request": 1000 * client_cpu / max(1, requests),
    }, latencies


def samples_ms(samples_s: Sequence[float]) -> list[float]:
    """Each latency in milliseconds to 10 µs: what a phase keeps for intervals computed later."""
    return [round(1000 * value, 2) for value in samples_s]


def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    if not samples_s:
        return {"count": 0}
    values = np.asarray(samples_s) * 1000
    return {
        "count": len(values),
        "p50_ms": float(np.percentile(values, 50)),
        "p90_ms": float(np.percentile(values, 90)),
        "p99_ms": float(np.percentile(values, 99)),
        "max_ms": float(values.max()),
        "mean_ms": float(values.mean()),
    }
