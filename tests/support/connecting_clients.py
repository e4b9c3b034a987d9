"""Clients that keep opening connections to a server (each sends one request and waits) while the
test stops it: the stop then meets connections in every state, the last ones accepted in the same
loop turn as the close."""

from __future__ import annotations

import gc
import socket
import threading
import time
import warnings
from collections.abc import Callable

CLIENTS = 3
CONNECTING_S = 0.02  # long enough for a few hundred connections to be open when the stop comes
CONNECT_TIMEOUT_S = 0.3  # a connect whose SYN the full backlog dropped waits 1 s for its retry: not needed


def stop_while_connecting(port: int, path: str, stop: Callable[[], None]) -> list[str]:
    """Run ``stop`` while clients connect to ``127.0.0.1:port`` and ``GET path``; returns the
    ResourceWarnings collected afterwards (sockets or transports the stop left open)."""
    stopping = threading.Event()
    opened: list[socket.socket] = []
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    def connect() -> None:
        while not stopping.is_set():
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_S)
            except OSError:
                return  # the listening socket is closed
            opened.append(connection)
            try:
                connection.sendall(request)
            except OSError:
                return

    clients = [
        threading.Thread(target=connect, name=f"connecting-client-{index}") for index in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(CONNECTING_S)
        stop()
    finally:
        stopping.set()
        for client in clients:
            client.join()
        for connection in opened:
            connection.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [str(warning.message) for warning in caught if issubclass(warning.category, ResourceWarning)]
