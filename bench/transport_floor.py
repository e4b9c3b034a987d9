"""The transport floor of the light-load comparison: a server that does nothing but read each request
into one preallocated buffer (``recv_into``, no Python object per chunk) and write back a prebuilt
answer of the gateway's size, in its own process, as the gateway runs.

The benchmark's client against it costs what any server would cost that client over 127.0.0.1 for
the same bytes in and out: the kernel's copies and the client's own work, with nothing of HTTP
routing, parsing, queueing or inference. bench/serving.py alternates it request by request with raw
ONNX Runtime and the gateway, so "added latency" can be split into what the transport costs and what
the gateway adds above it.

``python bench/transport_floor.py --answer-bytes N``, then N bytes on stdin (the answer's body): prints
``PORT n`` and serves one connection at a time until its stdin closes (serving_load.FloorProcess
runs it so).
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys
from collections.abc import Sequence

HEAD_END = b"\r\n\r\n"
BUFFER_BYTES = 16 * 2**20
"""Largest request (head and body) the floor reads; the benchmark's is 1.2 MB."""


def answer_for(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def serve_connection(connection: socket.socket, answer: bytes, buffer: bytearray) -> None:
    """Answer every request on ``connection`` until the client closes it (one request at a time)."""
    view = memoryview(buffer)
    filled = 0
    while True:
        end = buffer.find(HEAD_END, 0, filled)
        while end < 0:
            received = connection.recv_into(view[filled:])
            if not received:
                return
            filled += received
            end = buffer.find(HEAD_END, 0, filled)
        needed = end + len(HEAD_END) + content_length(bytes(buffer[:end]))
        if needed > len(buffer):
            raise ValueError(f"a request of {needed} bytes does not fit the floor's {len(buffer)}")
        while filled < needed:
            received = connection.recv_into(view[filled:])
            if not received:
                return
            filled += received
        connection.sendall(answer)
        # What came behind this request on the connection (a pipelining client's next) is kept.
        leftover = filled - needed
        buffer[:leftover] = buffer[needed:filled]
        filled = leftover


def serve(answer: bytes, stop_fd: int) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    buffer = bytearray(BUFFER_BYTES)
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        selector.register(stop_fd, selectors.EVENT_READ)
        while True:
            ready = {key.fileobj for key, _ in selector.select()}
            if stop_fd in ready:
                return
            connection, _ = listener.accept()
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with connection:
                serve_connection(connection, answer, buffer)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answer-bytes", type=int, required=True, help="then that many bytes on stdin")
    arguments = parser.parse_args(argv)
    stdin = sys.stdin.fileno()
    body = bytearray()
    while len(body) < arguments.answer_bytes:
        chunk = os.read(stdin, arguments.answer_bytes - len(body))
        if not chunk:
            raise SystemExit("stdin closed before the answer's body arrived")
        body += chunk
    # Closing stdin (the benchmark's way to stop us) makes it readable: the serve loop returns.
    serve(answer_for(bytes(body)), stdin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
