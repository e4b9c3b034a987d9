"""Reads of the outbox that failed, kept so that ``/v1/status`` names them and the log says each once.

The outbox opens without reading every page (an integrity check reads the whole file, seconds at each
start for a large one), so damage that start-up does not reach (a zeroed page of a table or index, a
table dropped by hand) shows only when a read reaches it. ``GET /v1/status`` then answered 500 with the
read's error, or stayed healthy while ``GET /v1/events`` answered 500 and logged it at every request.

Now every read the HTTP API makes goes through ``WatchedEventLog`` (or ``Gateway.system_facts``),
and every read the MQTT publisher makes of what to send is told here by the publisher itself (a page
only it reads left the gateway healthy while nothing was delivered). Each failure is recorded here by
its kind of read (``KINDS``): each distinct error is logged once, and ``problem`` names the latest in
``/v1/status``. It is listed with the degraded problems, not the watchdog's: the gateway still
decides and commits, and a restart by systemd would not mend the file either.

When it stops being named:
- an error that says the file is damaged (a malformed page, no database, a table gone, a row stored
  damaged: any ``OutboxError`` but ``OutboxUnavailableError``) is named until the gateway restarts. A
  damaged file does not mend itself, and a read that succeeds says nothing of the pages that failed:
  a damaged page that only some queries reach (an old page of the list, one image) would make the
  problem come and go with what clients happen to ask;
- an error whose cause passes (``OutboxUnavailableError``: the file locked by another process, a disk
  I/O error from a USB disk briefly unplugged, memory) is named until the next read of the same kind
  succeeds, which it would not while the cause lasts; it was named until a restart, long after every
  read succeeded again. A read of another kind succeeding does not clear it: it may read other pages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.api.ports import EventLog
from gateway.domain import Alert, EvidenceRecord
from gateway.errors import OutboxError, OutboxUnavailableError
from gateway.protocol.alerts import format_timestamp
from gateway.wording import counted

logger = logging.getLogger(__name__)

T = TypeVar("T")

LOGGED_ERRORS = 64
"""How many distinct read errors are logged, each once: a file with many damaged rows names each of
the first ones, not every one of thousands."""

LIST_READS = "alert lists"
ALERT_READS = "single alerts"
EVIDENCE_READS = "evidence images"
COUNT_READS = "outbox counts"
PUBLISHER_READS = "what the MQTT publisher sends"
KINDS = (LIST_READS, ALERT_READS, EVIDENCE_READS, COUNT_READS, PUBLISHER_READS)
"""The kinds of reads: each reads pages of its own, so only a success of the same kind says that the
read that failed would succeed now."""


@dataclass(slots=True)
class _Failing:
    """The failed reads of one kind since the first, while they are named."""

    first_at: float
    latest_at: float
    latest: str
    count: int = 0
    lasting: bool = False
    """Whether one of them said the file is damaged: then only a restart clears the kind."""
    logged: set[str] = field(default_factory=set)


class OutboxReadFailures:
    """The outbox reads that failed and are still named, by kind. Any thread."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._logged: set[str] = set()
        self._failing: dict[str, _Failing] = {}

    def failed(self, kind: str, exc: OutboxError) -> None:
        """Record a read of ``kind`` that failed with ``exc``; log it unless the same error was logged
        before (and not cleared since)."""
        message = str(exc)
        lasting = not isinstance(exc, OutboxUnavailableError)
        with self._lock:
            now = self._clock()
            failing = self._failing.setdefault(kind, _Failing(now, now, message))
            failing.count += 1
            failing.latest_at, failing.latest = now, message
            failing.lasting = failing.lasting or lasting
            new = message not in self._logged and len(self._logged) < LOGGED_ERRORS
            if new:
                self._logged.add(message)
                failing.logged.add(message)
        if new and lasting:
            logger.error(
                "%s; the file may be damaged: the reads that reach it fail (each error is logged once, "
                "and /v1/status names it until a restart)",
                message,
            )
        elif new:
            logger.error(
                "%s; reads of %s fail (each error is logged once, and /v1/status names it until one "
                "succeeds)",
                message,
                kind,
            )

    def succeeded(self, kind: str) -> None:
        """Record a read of ``kind`` that succeeded: it clears the kind's failures unless one of them
        said the file is damaged."""
        if kind not in self._failing:
            return  # the common case, without the lock: a stale answer only delays the clearing
        with self._lock:
            failing = self._failing.get(kind)
            if failing is None or failing.lasting:
                return
            del self._failing[kind]
            # The same error coming back later is another episode, logged again.
            self._logged -= failing.logged
            elapsed_s = self._clock() - failing.first_at
        logger.warning(
            "outbox reads of %s succeed again after %.1f s (%s failed)",
            kind,
            elapsed_s,
            counted(failing.count, "read"),
        )

    def problem(self) -> str | None:
        """The line ``/v1/status`` lists, or None while no failure is named."""
        with self._lock:
            failing = list(self._failing.values())
        if not failing:
            return None
        first_at = min(entry.first_at for entry in failing)
        count = sum(entry.count for entry in failing)
        latest = max(failing, key=lambda entry: entry.latest_at).latest
        if any(entry.lasting for entry in failing):
            advice = "check the file with sqlite3's PRAGMA integrity_check, restore it from a backup"
        else:
            advice = "named until a read of the same kind succeeds again"
        return (
            f"outbox reads fail since {format_timestamp(first_at)} ({counted(count, 'read')} failed; "
            f"{advice}): {latest}"
        )


class ReadsOfKind:
    """``failures`` for the reads of one ``kind`` (the MQTT publisher's, which knows no kinds)."""

    def __init__(self, failures: OutboxReadFailures, kind: str) -> None:
        self._failures = failures
        self._kind = kind

    def failed(self, exc: OutboxError) -> None:
        self._failures.failed(self._kind, exc)

    def succeeded(self) -> None:
        self._failures.succeeded(self._kind)


class WatchedEventLog:
    """``log`` as the HTTP API reads it, each read recorded in ``failures`` by its kind."""

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
            LIST_READS,
            lambda: self._log.recent_alerts(
                limit, camera_id, before_seq, rule=rule, label=label, since=since, until=until
            ),
        )

    def alert(self, seq: int) -> Alert | None:
        return self._watched(ALERT_READS, lambda: self._log.alert(seq))

    def evidence(self, seq: int) -> EvidenceRecord | None:
        return self._watched(EVIDENCE_READS, lambda: self._log.evidence(seq))

    def _watched(self, kind: str, read: Callable[[], T]) -> T:
        try:
            result = read()
        except OutboxError as exc:
            self._failures.failed(kind, exc)
            raise
        self._failures.succeeded(kind)
        return result
