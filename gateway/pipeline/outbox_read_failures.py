"""Reads of the outbox that failed, kept so that ``/v1/status`` names them and the log says each once.

The outbox opens without reading every page (an integrity check reads the whole file, seconds at each
start for a large one), so damage that start-up does not reach (a zeroed page of a table or index, a
table dropped by hand) shows only when a read reaches it. ``GET /v1/status`` then answered 500 with the
read's error, or stayed healthy while ``GET /v1/events`` answered 500 and logged it at every request.

Now every read the HTTP API makes goes through ``WatchedEventLog`` (or ``Gateway.system_facts``),
and every read the MQTT publisher makes of what to send is told here by the publisher itself (a page
only it reads left the gateway healthy while nothing was delivered). Each failure is recorded here:
each distinct error is logged once, and ``problem`` names the latest in ``/v1/status`` until the
gateway restarts. A damaged file does not mend itself, and a read that happens to succeed elsewhere
in the file says nothing of the pages that failed, so one success does not clear it. It is listed
with the degraded problems, not the watchdog's: the gateway still decides and commits, and a restart
by systemd would not mend the file either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from gateway.api.ports import EventLog
from gateway.domain import Alert, EvidenceRecord
from gateway.errors import OutboxError
from gateway.protocol.alerts import format_timestamp
from gateway.wording import counted

logger = logging.getLogger(__name__)

T = TypeVar("T")

LOGGED_ERRORS = 64
"""How many distinct read errors are logged, each once: a file with many damaged rows names each of
the first ones, not every one of thousands."""


class OutboxReadFailures:
    """The outbox reads that failed since start. Any thread."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._logged: set[str] = set()
        self._first_at: float | None = None
        self._count = 0
        self._latest = ""

    def failed(self, exc: OutboxError) -> None:
        """Record a read that failed with ``exc``; log it unless the same error was logged before."""
        message = str(exc)
        with self._lock:
            if self._first_at is None:
                self._first_at = self._clock()
            self._count += 1
            self._latest = message
            new = message not in self._logged and len(self._logged) < LOGGED_ERRORS
            if new:
                self._logged.add(message)
        if new:
            logger.error(
                "%s; the file may be damaged: the reads that reach it fail (each error is logged once, "
                "and /v1/status names it until a restart)",
                message,
            )

    def problem(self) -> str | None:
        """The line ``/v1/status`` lists, or None while every read has succeeded."""
        with self._lock:
            if self._first_at is None:
                return None
            return (
                f"outbox reads fail since {format_timestamp(self._first_at)} "
                f"({counted(self._count, 'read')} failed; check the file with sqlite3's "
                f"PRAGMA integrity_check, restore it from a backup): {self._latest}"
            )


class WatchedEventLog:
    """``log`` as the HTTP API reads it, each failed read recorded in ``failures``."""

    def __init__(self, log: EventLog, failures: OutboxReadFailures) -> None:
        self._log = log
        self._failures = failures

    def recent_alerts(
        self,
        limit: int,
        camera_id: str | None = None,
        before_seq: int | None = None,
        *,
        rule: str | None = None,
        label: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Sequence[Alert]:
        return self._watched(
            lambda: self._log.recent_alerts(
                limit, camera_id, before_seq, rule=rule, label=label, since=since, until=until
            )
        )

    def alert(self, seq: int) -> Alert | None:
        return self._watched(lambda: self._log.alert(seq))

    def evidence(self, seq: int) -> EvidenceRecord | None:
        return self._watched(lambda: self._log.evidence(seq))

    def _watched(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except OutboxError as exc:
            self._failures.failed(exc)
            raise
