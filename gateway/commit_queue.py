"""The alert decider's hand-over to the outbox: decided alerts, in the order decided, each start and
instant with its evidence image, committed asynchronously and announced in seq order.

Alerts wait here for their frame's evidence image (the encoder works on its own thread), and every
batch decided after them waits behind them, so the sink receives batches exactly in the order the
rules decided them: seq order is decision order. A batch whose image is not ready by
``timeout_s`` (a wedged encoder), or cannot be made at all, goes without evidence (``evidence:
null``), counted under ``edge_gateway_evidence_missing`` and logged; evidence never holds an alert
back for good. Once handed over, batches commit through the sink's asynchronous path (group commit:
an fsync never stalls the rules) and are announced in order as their commits complete.

An alert the sink refuses for good (it cannot be encoded, e.g. a score that is not a finite number:
a bug, since postprocess makes model outputs finite; or the outbox is already closed) cannot be
retried: it is logged whole at ERROR (the only copy left, so it can be inspected and replayed by
hand), counted under ``edge_gateway_alerts_uncommitted``, and ``refused`` keeps the failure for good,
so the gateway's health fails and the watchdog stops it (DESIGN.md: an alert that cannot be
committed stops the pipeline loudly rather than vanishing). The batches after it still commit.

Not thread-safe: the decider's thread owns it; futures' done callbacks only call ``wake``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.domain import Alert, AlertEvent, AlertKind, EvidenceImage
from gateway.errors import GatewayError

logger = logging.getLogger(__name__)

EVIDENCE_KINDS = (AlertKind.START, AlertKind.INSTANT)
"""The kinds of alert that carry evidence (DESIGN.md, alert v2)."""


class AlertSink(Protocol):
    """Where decided alerts become durable: the outbox."""

    def append_async(
        self, events: Sequence[AlertEvent], evidence: Sequence[bytes | None] = ()
    ) -> Future[list[Alert]]:
        """Queue ``events`` in order, with the evidence bytes of each event whose ``evidence`` is set
        (aligned with ``events``; empty when none has); the future resolves once they are durable.
        Blocks while the sink's bounded queue is full; raises only when the sink is closed."""
        ...

    def open_events(self) -> list[AlertEvent]:
        """The newest alert of every event that started and has not ended."""
        ...

    def commit_failure(self) -> tuple[float, str] | None:
        """(since when, why) while commits fail, else None."""
        ...


@dataclass(frozen=True, slots=True)
class _Decided:
    events: Sequence[AlertEvent]
    image: Future[EvidenceImage] | None
    since: float


@dataclass(frozen=True, slots=True)
class _Commit:
    future: Future[list[Alert]]
    events: Sequence[AlertEvent]


@dataclass(frozen=True, slots=True)
class Refused:
    """Alerts the sink refused for good since the queue was made (never cleared)."""

    count: int
    first: str
    """Why the first of them was refused."""


class CommitQueue:
    def __init__(
        self,
        sink: AlertSink,
        announce: Callable[[Alert], None],
        wake: Callable[[], None],
        registry: CollectorRegistry,
        *,
        timeout_s: float,
    ) -> None:
        self._sink = sink
        self._announce = announce
        self._wake = wake
        self._timeout_s = timeout_s
        self._decided: collections.deque[_Decided] = collections.deque()
        self._commits: collections.deque[_Commit] = collections.deque()
        self._held = 0
        self._refused: Refused | None = None
        self._uncommitted = Counter(
            "edge_gateway_alerts_uncommitted",
            "Decided alerts the outbox refused for good (cannot be encoded, or closed): logged whole "
            "at ERROR; the gateway reports unhealthy from the first one.",
            registry=registry,
        )
        self._held_gauge = Gauge(
            "edge_gateway_decider_alerts_held",
            "Alerts decided and queued for the outbox, not yet durable.",
            registry=registry,
        )
        self._evidence_missing = Counter(
            "edge_gateway_evidence_missing",
            "Start and instant alerts committed without evidence, by why: frames_full (the frame was "
            "not held), no_frame (decided without a frame), encode_failed, timeout.",
            ["reason"],
            registry=registry,
        )

    @property
    def held(self) -> int:
        """Alerts decided and not yet durable (waiting for an image or for their commit)."""
        return self._held

    @property
    def refused(self) -> Refused | None:
        """Alerts the sink refused for good (None: none so far); read from any thread."""
        return self._refused

    def add(self, events: Sequence[AlertEvent], image: Future[EvidenceImage] | None = None) -> None:
        """Queue ``events`` behind everything added before; they go to the sink once ``image`` (their
        frame's evidence, attached to their starts and instants) is ready."""
        if not events:
            return
        self._count_held(len(events))
        self._decided.append(_Decided(events, image, time.monotonic()))
        if image is not None:
            image.add_done_callback(lambda _future: self._wake())
        self.forward()

    def missing(self, reason: str, events: Sequence[AlertEvent], detail: str = "") -> None:
        """Count and log the starts and instants of ``events`` that go without evidence."""
        count = sum(1 for event in events if event.kind in EVIDENCE_KINDS)
        if not count:
            return
        self._evidence_missing.labels(reason).inc(count)
        logger.warning(
            "%d alerts go without evidence (%s%s)",
            count,
            reason,
            f": {detail}" if detail else "",
            extra={"camera": events[0].camera_id},
        )

    def ready(self) -> bool:
        """Something to do now: a commit completed, or the image the head batch waits for is ready."""
        if self._commits and self._commits[0].future.done():
            return True
        image = self._decided[0].image if self._decided else None
        return image is not None and image.done()

    def forward(self, *, waiting: bool = False) -> None:
        """Hand the sink, in order, every batch whose image is ready (or overdue). With ``waiting``
        (stopping), wait for each image up to the timeout instead of returning."""
        while self._decided:
            head = self._decided[0]
            if head.image is not None and not head.image.done():
                remaining = head.since + self._timeout_s - time.monotonic()
                if remaining > 0 and not waiting:
                    return
                with contextlib.suppress(Exception):
                    head.image.exception(max(0.0, remaining))
            self._decided.popleft()
            events, evidence = self._attach(head)
            self._to_sink(events, evidence)

    def announce_committed(self) -> None:
        """Announce, in seq order, every commit that has completed."""
        while self._commits and self._commits[0].future.done():
            commit = self._commits.popleft()
            self._count_held(-len(commit.events))
            try:
                alerts = commit.future.result()
            except GatewayError as exc:
                # Refused for good (unencodable: a bug): no retry can help; never silently lost.
                self._refuse(commit.events, exc)
                continue
            for alert in alerts:
                try:
                    self._announce(alert)
                except Exception:
                    # Committed already: what an announcement does (metrics, a log line, an echo) is
                    # told afterwards, and a failure there must not stop the decider's thread.
                    logger.exception("announcing committed alert %s failed", alert.alert_id)

    def drain(self) -> None:
        """Wait for every image and every commit; the sink retries failed ones until it is closed."""
        self.forward(waiting=True)
        while self._commits:
            with contextlib.suppress(GatewayError):
                self._commits[0].future.result()
            self.announce_committed()

    def _attach(self, decided: _Decided) -> tuple[Sequence[AlertEvent], list[bytes | None]]:
        if decided.image is None:
            return decided.events, []
        if not decided.image.done():
            self.missing("timeout", decided.events, f"not encoded within {self._timeout_s:.0f} s")
            return decided.events, []
        try:
            image = decided.image.result()
        except Exception as exc:  # the encoder says why; the alerts go without evidence
            self.missing("encode_failed", decided.events, str(exc))
            return decided.events, []
        events = [
            replace(event, evidence=image.evidence) if event.kind in EVIDENCE_KINDS else event
            for event in decided.events
        ]
        return events, [image.data if event.kind in EVIDENCE_KINDS else None for event in events]

    def _to_sink(self, events: Sequence[AlertEvent], evidence: Sequence[bytes | None]) -> None:
        try:
            future = self._sink.append_async(events, evidence)
        except GatewayError as exc:
            # Only a closed sink raises: the gateway is past stopping and nothing can hold them.
            self._count_held(-len(events))
            self._refuse(events, exc)
            return
        future.add_done_callback(lambda _future: self._wake())
        self._commits.append(_Commit(future, events))

    def _refuse(self, events: Sequence[AlertEvent], exc: BaseException) -> None:
        self._uncommitted.inc(len(events))
        previous = self._refused
        self._refused = Refused(
            len(events) + (previous.count if previous else 0), previous.first if previous else str(exc)
        )
        logger.error(
            "%d decided alerts could not be committed (%s); the gateway reports unhealthy. "
            "The alerts, whole: %r",
            len(events),
            exc,
            list(events),
            exc_info=exc,
            extra={"camera": events[0].camera_id},
        )

    def _count_held(self, change: int) -> None:
        self._held += change
        self._held_gauge.set(self._held)
