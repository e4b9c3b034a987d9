"""A minimal sd_notify receiver: what systemd's manager does with ``$NOTIFY_SOCKET``, for tests.

It binds a real AF_UNIX datagram socket (a filesystem path, or an abstract name written ``@name``
as systemd writes it) and parses each datagram into its ``KEY=VALUE`` assignments.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True, slots=True)
class Notification:
    fields: dict[str, str]
    received_at: float = field(compare=False)
    """time.monotonic() when the datagram arrived."""


class NotifyListener:
    def __init__(self, address: Path | str) -> None:
        """``address``: a filesystem path, or a string starting with ``@`` for an abstract socket."""
        self.environment_value = str(address)
        """What to put in ``$NOTIFY_SOCKET``."""
        bind_to = "\0" + str(address)[1:] if str(address).startswith("@") else str(address)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.bind(bind_to)
        self._path = None if str(address).startswith("@") else Path(address)

    def receive(self, timeout_s: float) -> Notification | None:
        """The next datagram, or None if none arrives within ``timeout_s``."""
        self._socket.settimeout(timeout_s)
        try:
            payload = self._socket.recv(4096)
        except TimeoutError:
            return None
        fields: dict[str, str] = {}
        for line in payload.decode("utf-8").split("\n"):
            if line:
                key, separator, value = line.partition("=")
                assert separator, f"not a KEY=VALUE assignment: {line!r}"
                fields[key] = value
        return Notification(fields, time.monotonic())

    def wait_for(self, key: str, timeout_s: float) -> tuple[Notification, list[Notification]]:
        """The first datagram carrying ``key``, and every datagram received before it."""
        deadline = time.monotonic() + timeout_s
        earlier: list[Notification] = []
        while (left := deadline - time.monotonic()) > 0:
            notification = self.receive(left)
            if notification is None:
                break
            if key in notification.fields:
                return notification, earlier
            earlier.append(notification)
        raise AssertionError(f"no {key} within {timeout_s} s; received {[n.fields for n in earlier]}")

    def drain(self, duration_s: float) -> list[Notification]:
        """Everything received during the next ``duration_s`` seconds."""
        deadline = time.monotonic() + duration_s
        received: list[Notification] = []
        while (left := deadline - time.monotonic()) > 0:
            notification = self.receive(left)
            if notification is not None:
                received.append(notification)
        return received

    def close(self) -> None:
        self._socket.close()
        if self._path is not None and self._path.exists():
            os.unlink(self._path)

    def __enter__(self) -> NotifyListener:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
