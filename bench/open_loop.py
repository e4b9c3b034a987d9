"""The open-loop load generator of the serving benchmark: requests start on a fixed schedule whatever
happened to the earlier ones (a real overload), on non-blocking sockets and one ``epoll``, no
asyncio.

It shares the cores with the gateway it overloads, so whatever it spends is taken from inference.
On asyncio's loop it spent 0.63 ms of CPU per request at 3x capacity on 2 cores, 0.59 for requests
asking ``Expect: 100-continue`` (which send no body when refused, but whose refused connections
close and reopen: a transport, a protocol, futures and a task each); here 0.53 and 0.38
(bench/results/serving.md), most of it the kernel's copies of the bodies it sends.

Each request goes out on an idle keep-alive connection or a new one; a plain request sends its head
and body at once, and keeps sending the body after an early answer (the server drops it), as a
client that does not ask ``Expect`` does. With ``Expect: 100-continue`` the body follows only a
``100 Continue``. A connection the server closes (``Connection: close``) is closed here too. Requests
still unanswered ``drain_s`` after the schedule ended are counted as failed (status 0).
"""

from __future__ import annotations

import selectors
import socket
import time
from collections import Counter
from typing import Any

from bench.http_load import HEAD_END, Request, parse_head, percentiles, samples_ms

RECEIVE_BYTES = 256 * 1024
DRAIN_S = 30.0


class _Exchange:
    """One request on one connection, from its first byte out to its answer's last byte in."""

    __slots__ = (
        "answer",
        "body_sent",
        "head_sent",
        "received",
        "sock",
        "started",
        "waiting_continue",
    )

    def __init__(self, sock: socket.socket, expect: bool, started: float) -> None:
        self.sock = sock
        self.started = started
        self.head_sent = 0
        self.body_sent = 0
        self.waiting_continue = expect
        self.received = bytearray()
        self.answer: tuple[int, str | None, bool] | None = None
        """(status, Retry-After, the server closes) once the final answer is in."""


def open_loop(
    port: int,
    request: Request,
    rate_per_s: float,
    seconds: float,
    *,
    expect_continue: bool = False,
    drain_s: float = DRAIN_S,
) -> dict[str, Any]:
    """``rate_per_s`` requests a second for ``seconds``, each started on schedule, then at most
    ``drain_s`` for the last answers; returns admitted and refused latencies, statuses (0: failed or
    unanswered), Retry-After coverage and this generator's CPU per request."""
    head = request.head(port, expect_continue=expect_continue)
    body = memoryview(request.body)
    selector = selectors.DefaultSelector()
    idle: list[socket.socket] = []
    admitted: list[float] = []
    rejected: list[float] = []
    statuses: Counter[int] = Counter()
    missing_retry_after = 0
    total = int(rate_per_s * seconds)
    in_flight = 0
    started_requests = 0
    cpu_before = time.process_time()
    begin = time.perf_counter()

    def start() -> None:
        nonlocal in_flight
        if idle:
            sock = idle.pop()
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        exchange = _Exchange(sock, expect_continue, time.perf_counter())
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, exchange)
        in_flight += 1

    def finish(exchange: _Exchange, *, reusable: bool) -> None:
        nonlocal in_flight
        selector.unregister(exchange.sock)
        in_flight -= 1
        if reusable:
            idle.append(exchange.sock)
        else:
            exchange.sock.close()

    def record(exchange: _Exchange, status: int, retry_after: str | None) -> None:
        nonlocal missing_retry_after
        elapsed = time.perf_counter() - exchange.started
        statuses[status] += 1
        if status == 200:
            admitted.append(elapsed)
        else:
            rejected.append(elapsed)
            if status in (429, 503) and retry_after is None:
                missing_retry_after += 1

    def write(exchange: _Exchange) -> bool:
        """Send what may go now; False when the connection failed."""
        try:
            if exchange.head_sent < len(head):
                exchange.head_sent += exchange.sock.send(head[exchange.head_sent :])
            if exchange.head_sent == len(head) and not exchange.waiting_continue:
                while exchange.body_sent < len(body):
                    exchange.body_sent += exchange.sock.send(body[exchange.body_sent :])
        except BlockingIOError:
            return True
        except OSError:
            return False
        return True

    def read(exchange: _Exchange) -> bool:
        """Take what arrived; False when the connection failed or closed before the answer."""
        try:
            data = exchange.sock.recv(RECEIVE_BYTES)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        exchange.received += data
        while exchange.answer is None:
            end = exchange.received.find(HEAD_END)
            if end < 0:
                return True
            status, headers = parse_head(bytes(exchange.received[:end]))
            length = int(headers.get("content-length", "0"))
            if len(exchange.received) < end + len(HEAD_END) + length:
                return True
            del exchange.received[: end + len(HEAD_END) + length]
            if status == 100:
                exchange.waiting_continue = False
                continue
            exchange.answer = (status, headers.get("retry-after"), headers.get("connection") == "close")
            record(exchange, status, exchange.answer[1])
        return True

    def step(exchange: _Exchange, events: int) -> None:
        healthy = not events & selectors.EVENT_WRITE or write(exchange)
        healthy = healthy and (not events & selectors.EVENT_READ or read(exchange))
        if not healthy:
            if exchange.answer is None:
                statuses[0] += 1
            finish(exchange, reusable=False)
            return
        sending = exchange.head_sent < len(head) or (
            not exchange.waiting_continue and exchange.body_sent < len(body)
        )
        if exchange.answer is not None and not sending:
            # A refused ``Expect`` request never sent its body: the connection cannot carry another.
            reusable = not exchange.answer[2] and exchange.body_sent == len(body)
            finish(exchange, reusable=reusable)
            return
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if sending else 0)
        selector.modify(exchange.sock, wanted, exchange)

    give_up_at = begin + seconds + drain_s
    while started_requests < total or in_flight:
        now = time.perf_counter()
        if now > give_up_at:
            break
        while started_requests < total and begin + started_requests / rate_per_s <= now:
            start()
            started_requests += 1
        timeout = begin + started_requests / rate_per_s if started_requests < total else give_up_at
        for key, events in selector.select(max(0.0, timeout - now)):
            step(key.data, events)
    elapsed = time.perf_counter() - begin
    for key in list(selector.get_map().values()):
        if key.data.answer is None:
            statuses[0] += 1
        key.data.sock.close()
    for sock in idle:
        sock.close()
    selector.close()
    return {
        "offered_per_s": rate_per_s,
        "requests": total,
        "expect_continue": expect_continue,
        "admitted_per_s": len(admitted) / elapsed,
        "admitted_latency": percentiles(admitted),
        "admitted_samples_ms": samples_ms(admitted),
        "rejected_latency": percentiles(rejected),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "retry_after_missing": missing_retry_after,
        "client_cpu_ms_per_request": 1000 * (time.process_time() - cpu_before) / max(1, total),
    }
