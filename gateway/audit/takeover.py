"""Telling a client id in use twice from an unsteady network.

Two audit instances started from one config share its ``client_id`` (``edge-gateway.audit`` unless
set). The broker keeps one connection per client id: each instance's connect closes the other's,
which reconnects a second later and closes the first one's, for as long as both run. mosquitto
closes the older connection without a DISCONNECT packet, so paho reports only "Unspecified error",
the same as a network drop, and the log filled with "disconnected; reconnecting" that said nothing
of the cause. A connection the broker keeps closing within seconds of opening, several times in a
row, is that pattern: the warning names the client id, until a connection stays up.
"""

from __future__ import annotations

import time

SHORT_CONNECTION_S = 5.0
"""A connection closed sooner than this after it opened counts towards the warning."""
SHORT_CONNECTIONS = 3
"""Short connections in a row that make the warning."""


class TakeoverWatch:
    """Fed by the MQTT callbacks of one connection; read by any thread (a stale read is harmless)."""

    def __init__(self, client_id: str) -> None:
        self._client_id = client_id
        self._opened_at: float | None = None
        self._short = 0

    def opened(self) -> None:
        self._opened_at = time.monotonic()

    def closed(self) -> bool:
        """Count a closed connection; True when this one makes the warning (to log it once)."""
        lived = None if self._opened_at is None else time.monotonic() - self._opened_at
        self._opened_at = None
        if lived is None:
            return False
        self._short = self._short + 1 if lived < SHORT_CONNECTION_S else 0
        return self._short == SHORT_CONNECTIONS

    @property
    def warning(self) -> str | None:
        """What an operator should check, or None once a connection has stayed up."""
        if self._short < SHORT_CONNECTIONS:
            return None
        opened_at = self._opened_at
        if opened_at is not None and time.monotonic() - opened_at >= SHORT_CONNECTION_S:
            return None
        return (
            f"the broker closed {self._short} connections in a row within {SHORT_CONNECTION_S:.0f} s of "
            f"opening: is another client (a second audit instance?) using client id {self._client_id!r}? "
            "Each audit instance needs a client_id of its own"
        )
