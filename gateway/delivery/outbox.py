"""The durable outbox: every alert is numbered, chained, signed and committed to SQLite before anyone
is told it exists.

Layout: one SQLite database in WAL mode, ``state_dir/outbox.db``. ``alerts`` holds the exact payload
bytes (replays are byte-identical by construction); ``chain_head`` holds the last seq and hash in the
same transaction as the alert, so seq stays gapless across restarts and power loss even after every
delivered alert has been pruned.

Durability vs throughput: with ``synchronous=full`` every commit fsyncs the WAL. One named
``outbox-writer`` thread commits everything queued while the previous fsync ran in one transaction
(group commit, at most MAX_BATCH_ALERTS). ``append_async`` returns a Future that resolves only once
the transaction holding those alerts is durable, so a camera thread need not wait for the fsync and
still nobody is told about an alert (the publisher reads committed rows only) before it is on disk.
``append_many`` is the blocking form. The queue is bounded (MAX_QUEUED_ALERTS): a full queue blocks
the caller, it never drops an alert.

A commit the disk refuses (full, I/O error) is retried with backoff (COMMIT_RETRY_MIN_S doubling to
COMMIT_RETRY_MAX_S) with the same seqs, keeping its place before everything queued after it, so the
chain and the order of alerts are those decided. Meanwhile ``commit_failure`` names the problem (the
gateway's health and watchdog show it) and ``edge_gateway_outbox_commit_failures`` counts attempts.
Only ``close`` gives up, after its timeout, and says how many alerts were never committed.

Open events: ``open_events`` (see ``outbox_schema``) holds the newest alert of every event that has
started and not ended, updated in the same transaction as the alerts. Deliveries are marked
in batches without fsync-per-ack: losing a mark on power loss only means that alert is sent again,
which the audit log deduplicates on (device_id, seq).

Measured by bench/alerts.py (results/alerts.json) on the shared 2-core CI box at load average 7-8
from other work, so throughput there is a floor: 8 camera threads, ``synchronous=full``, blocking
``submit``: 1,160 alerts/s committed (one fsync per small group); the same with ``append_async``
(64 queued per thread): 2,971/s committed, 2,036/s acknowledged by mosquitto, 1,853/s verified and
stored by the audit subscriber. The gateway then spends about 210-250 us of CPU per alert, much
of it in paho's MQTT v5 PUBACK handling.

Undelivered alerts are never pruned; delivered ones go after ``retention_s`` or when the stored
payloads pass ``max_bytes`` (oldest first).
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.config import GatewayConfig, OutboxConfig
from gateway.delivery import outbox_schema
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import Alert, AlertEvent, AlertKind
from gateway.errors import OutboxError
from gateway.protocol.alerts import ZERO_HASH, InvalidAlertError, build_alert_payload, decode_alert
from gateway.sqlite_open import open_wal_database

logger = logging.getLogger(__name__)

DATABASE_NAME = "outbox.db"
MAX_BATCH_ALERTS = 2000
MAX_QUEUED_ALERTS = 10_000
PRUNE_INTERVAL_S = 60.0
COMMIT_RETRY_MIN_S = 0.05
COMMIT_RETRY_MAX_S = 2.0
CLOSE_TIMEOUT_S = 10.0
BUSY_TIMEOUT_S = 5.0
"""sqlite3's default, kept: nothing else writes this file, so waits are rare and short."""


@dataclass(frozen=True, slots=True)
class StoredAlert:
    seq: int
    payload: bytes
    """Exactly the bytes committed and published."""


@dataclass(frozen=True, slots=True)
class OutboxStats:
    last_seq: int
    pending: int
    stored: int


_Row = tuple[int, str, float, bytes, AlertKind, str]
"""seq, camera_id, committed_at, payload, and the event's kind and id for ``open_events``."""


@dataclass(frozen=True, slots=True)
class _Request:
    events: Sequence[AlertEvent]
    future: Future[list[Alert]]


class Outbox:
    """Thread-safe. ``append_many`` returns (and ``append_async`` futures resolve) only after a
    durable commit. ``close()`` when done: it stops the writer thread."""

    def __init__(
        self,
        state_dir: Path,
        device_id: str,
        key: bytes,
        *,
        config: OutboxConfig | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.device_id = device_id
        self.path = state_dir / DATABASE_NAME
        self._key = key
        self._config = config if config is not None else OutboxConfig()
        self._clock = clock
        self._db_lock = threading.Lock()
        self._queue_changed = threading.Condition()
        self._requests: collections.deque[_Request] = collections.deque()
        self._queued_alerts = 0
        self._closing = False
        self._close_deadline = float("inf")
        self._closed = threading.Event()
        self._failure: tuple[float, str] | None = None
        self._listeners: list[Callable[[int], None]] = []
        self._last_prune = 0.0
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are explicit BEGIN IMMEDIATE ... COMMIT below.
            self._db = open_wal_database(
                self.path, synchronous=self._config.synchronous, busy_timeout_s=BUSY_TIMEOUT_S
            )
            outbox_schema.migrate(self._db)
            row = self._db.execute("SELECT seq, hash FROM chain_head WHERE id = 1").fetchone()
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot open: {exc}") from exc
        self._last_seq, self._last_hash = (int(row[0]), str(row[1])) if row else (0, ZERO_HASH)
        registry = registry if registry is not None else CollectorRegistry()
        self._committed = Counter(
            "edge_gateway_outbox_alerts_committed",
            "Alerts durably committed to the outbox.",
            registry=registry,
        )
        self._commits = Counter(
            "edge_gateway_outbox_commits",
            "Outbox transactions (one fsync each with synchronous=full).",
            registry=registry,
        )
        self._pruned = Counter(
            "edge_gateway_outbox_alerts_pruned", "Delivered alerts removed by retention.", registry=registry
        )
        self._last_seq_gauge = Gauge(
            "edge_gateway_outbox_last_seq", "Newest committed seq.", registry=registry
        )
        self._commit_failures = Counter(
            "edge_gateway_outbox_commit_failures",
            "Commit attempts the disk refused (each is retried; no alert is dropped).",
            registry=registry,
        )
        self._failing = Gauge(
            "edge_gateway_outbox_commit_failing", "1 while commits are being refused.", registry=registry
        )
        self._last_seq_gauge.set(self._last_seq)
        logger.info(
            "outbox %s open at seq %d (synchronous=%s)", self.path, self._last_seq, self._config.synchronous
        )
        self._writer = threading.Thread(target=self._write_loop, name="outbox-writer", daemon=True)
        self._writer.start()

    @classmethod
    def from_config(cls, config: GatewayConfig, registry: CollectorRegistry | None = None) -> Outbox:
        key_file = config.mqtt.signing_key_file if config.mqtt is not None else None
        key = load_or_create_key(config.state_dir, key_file)
        return cls(config.state_dir, config.device_id, key, config=config.outbox, registry=registry)

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """``listener(last_seq)`` runs after every commit (on the committing thread; keep it short)."""
        self._listeners.append(listener)

    def commit_failure(self) -> tuple[float, str] | None:
        """(wall-clock time of the first refused attempt, the error) while commits fail, else None."""
        return self._failure

    def open_events(self) -> list[AlertEvent]:
        """The newest alert of every event that started and has not ended, oldest first."""
        rows = self._select("SELECT seq, payload FROM open_events ORDER BY seq", ())
        return [decode_alert(stored.payload).event for stored in rows]

    def append_many(self, events: Sequence[AlertEvent]) -> list[Alert]:
        """Commit ``events`` with consecutive seqs; returns once they are durable."""
        return self.append_async(events).result()

    def append_async(self, events: Sequence[AlertEvent]) -> Future[list[Alert]]:
        """Queue ``events`` (consecutive seqs, in order); the Future resolves once they are durable or
        fails with OutboxError. Blocks only while MAX_QUEUED_ALERTS are already waiting."""
        future: Future[list[Alert]] = Future()
        if not events:
            future.set_result([])
            return future
        with self._queue_changed:
            while self._queued_alerts >= MAX_QUEUED_ALERTS and not self._closing:
                self._queue_changed.wait()
            if self._closing:
                raise OutboxError(f"outbox {self.path}: closed")
            self._requests.append(_Request(events, future))
            self._queued_alerts += len(events)
            self._queue_changed.notify_all()
        return future

    def _write_loop(self) -> None:
        while True:
            with self._queue_changed:
                while not self._requests and not self._closing:
                    self._queue_changed.wait()
                if not self._requests:
                    return
                batch: list[_Request] = []
                count = 0
                while self._requests and count < MAX_BATCH_ALERTS:
                    batch.append(self._requests.popleft())
                    count += len(batch[-1].events)
                self._queued_alerts -= count
                self._queue_changed.notify_all()
            try:
                self._commit_batch(batch)
            except Exception as exc:
                # A bug, not an I/O error (those are handled inside): fail the callers, keep serving.
                logger.exception("outbox writer failed")
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(OutboxError(f"outbox {self.path}: writer failed: {exc}"))

    def _commit_batch(self, requests: list[_Request]) -> None:
        seq, previous = self._last_seq, self._last_hash
        now = self._clock()
        rows: list[_Row] = []
        batch: list[_Request] = []
        results: list[list[Alert]] = []
        for request in requests:
            alerts: list[Alert] = []
            request_rows: list[_Row] = []
            try:
                for event in request.events:
                    alert, payload = build_alert_payload(
                        self.device_id,
                        seq + len(alerts) + 1,
                        event,
                        alerts[-1].hash if alerts else previous,
                        self._key,
                    )
                    alerts.append(alert)
                    request_rows.append(
                        (alert.seq, event.camera_id, now, payload, event.kind, event.event_id)
                    )
            except InvalidAlertError as exc:
                # One caller's unencodable event (a NaN score) must not fail the others in the batch.
                request.future.set_exception(OutboxError(f"outbox {self.path}: cannot encode alert: {exc}"))
                continue
            seq, previous = alerts[-1].seq, alerts[-1].hash
            rows += request_rows
            batch.append(request)
            results.append(alerts)
        if not rows:
            return
        if not self._write_with_retries(rows, seq, previous):
            for request in batch:
                request.future.set_exception(
                    OutboxError(f"outbox {self.path}: closed while the disk refused commits")
                )
            return
        self._last_seq, self._last_hash = seq, previous
        self._committed.inc(len(rows))
        self._commits.inc()
        self._last_seq_gauge.set(seq)
        for request, alerts in zip(batch, results, strict=True):
            request.future.set_result(alerts)
        for listener in self._listeners:
            try:
                listener(seq)
            except Exception:
                # The alerts are committed; a broken listener must not make the caller think otherwise.
                logger.exception("outbox listener failed")
        try:
            self.maybe_prune(now)
        except OutboxError as exc:
            logger.warning("%s (retried at the next interval)", exc)

    def _write_with_retries(self, rows: Sequence[_Row], seq: int, last_hash: str) -> bool:
        """Commit ``rows``, retrying while the disk refuses; False only when ``close`` gave up."""
        delay = COMMIT_RETRY_MIN_S
        while True:
            try:
                self._write(rows, seq, last_hash)
            except (sqlite3.Error, OSError) as exc:
                self._commit_failures.inc()
                if self._failure is None:
                    self._failure = (self._clock(), f"{type(exc).__name__}: {exc}")
                    self._failing.set(1)
                    logger.error(
                        "outbox commit of %d alerts refused: %s; retrying, nothing is dropped", len(rows), exc
                    )
                if self._closed.is_set() and time.monotonic() >= self._close_deadline:
                    logger.error(
                        "outbox closing while the disk refuses commits: %d decided alerts from seq %d on "
                        "were never committed",
                        self._queued_alerts + len(rows),
                        rows[0][0],
                    )
                    return False
                # Only close cuts the wait short: new alerts arriving must not speed up the retries.
                self._closed.wait(min(delay, max(0.0, self._close_deadline - time.monotonic())))
                delay = min(delay * 2, COMMIT_RETRY_MAX_S)
                continue
            if self._failure is not None:
                logger.warning("outbox commits succeed again after %.1f s", self._clock() - self._failure[0])
                self._failure = None
                self._failing.set(0)
            return True

    def _write(self, rows: Sequence[_Row], seq: int, last_hash: str) -> None:
        with self._db_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO alerts (seq, camera_id, committed_at, payload) VALUES (?, ?, ?, ?)",
                    [(row[0], row[1], row[2], row[3]) for row in rows],
                )
                for row_seq, _camera, _at, payload, kind, event_id in rows:
                    if kind is AlertKind.START or kind is AlertKind.UPDATE:
                        self._db.execute(outbox_schema.UPSERT_OPEN_EVENT, (event_id, row_seq, payload))
                    elif kind is AlertKind.END:
                        self._db.execute(outbox_schema.DELETE_OPEN_EVENT, (event_id,))
                self._db.execute(
                    "INSERT INTO chain_head (id, seq, hash) VALUES (1, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    (seq, last_hash),
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error as exc:
                        # SQLite may have rolled back on its own after an I/O error.
                        logger.debug("rollback after a failed commit: %s", exc)
                raise

    def pending(self, after_seq: int = 0, limit: int = 1000) -> list[StoredAlert]:
        """Undelivered alerts with seq > ``after_seq``, in seq order."""
        return self._select(
            "SELECT seq, payload FROM alerts WHERE delivered_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )

    def replay(self, from_seq: int, to_seq: int, limit: int = 100_000) -> list[StoredAlert]:
        """Stored alerts in ``from_seq..to_seq`` (inclusive), byte-identical to what was published."""
        return self._select(
            "SELECT seq, payload FROM alerts WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?",
            (from_seq, to_seq, limit),
        )

    def _select(self, sql: str, parameters: tuple[int, ...]) -> list[StoredAlert]:
        try:
            with self._db_lock:
                rows = self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: read failed: {exc}") from exc
        return [StoredAlert(int(seq), bytes(payload)) for seq, payload in rows]

    def mark_delivered(self, seqs: Iterable[int]) -> None:
        """Record PUBACKs (one transaction for the whole batch, without its own fsync).

        synchronous=NORMAL for this transaction only: in WAL mode that keeps the database consistent
        and merely lets a power loss forget the newest marks (those alerts are sent again); the next
        alert commit's fsync makes the marks durable too."""
        now = self._clock()
        try:
            with self._db_lock:
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany(
                        "UPDATE alerts SET delivered_at = ? WHERE seq = ? AND delivered_at IS NULL",
                        [(now, seq) for seq in seqs],
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                finally:
                    self._db.execute(f"PRAGMA synchronous={self._config.synchronous.upper()}")
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot mark delivered: {exc}") from exc

    def recent_alerts(self, limit: int, camera_id: str | None = None) -> list[Alert]:
        """Newest first (gateway.api.ports.EventLog)."""
        try:
            with self._db_lock:
                if camera_id is None:
                    cursor = self._db.execute(
                        "SELECT payload FROM alerts ORDER BY seq DESC LIMIT ?", (limit,)
                    )
                else:
                    cursor = self._db.execute(
                        "SELECT payload FROM alerts WHERE camera_id = ? ORDER BY seq DESC LIMIT ?",
                        (camera_id, limit),
                    )
                rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: read failed: {exc}") from exc
        return [decode_alert(bytes(payload)) for (payload,) in rows]

    def stats(self) -> OutboxStats:
        try:
            with self._db_lock:
                pending = self._db.execute(
                    "SELECT COUNT(*) FROM alerts WHERE delivered_at IS NULL"
                ).fetchone()[0]
                stored = self._db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: read failed: {exc}") from exc
        return OutboxStats(self._last_seq, int(pending), int(stored))

    def maybe_prune(self, now: float | None = None) -> int:
        """``prune`` at most every PRUNE_INTERVAL_S; called after commits and by the publisher's
        idle loop, so age-based retention also happens when no new alerts arrive."""
        now = self._clock() if now is None else now
        return self.prune(now) if now - self._last_prune >= PRUNE_INTERVAL_S else 0

    def prune(self, now: float | None = None) -> int:
        """Delete delivered alerts past the retention age, then the oldest delivered ones while the
        stored payloads exceed ``max_bytes``. Returns how many were deleted."""
        now = self._clock() if now is None else now
        self._last_prune = now
        try:
            with self._db_lock:
                deleted = self._db.execute(
                    "DELETE FROM alerts WHERE delivered_at IS NOT NULL AND committed_at < ?",
                    (now - self._config.retention_s,),
                ).rowcount
                total = self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM alerts").fetchone()[0]
                excess = int(total) - self._config.max_bytes
                if excess > 0:
                    rows = self._db.execute(
                        "SELECT seq, LENGTH(payload) FROM alerts WHERE delivered_at IS NOT NULL ORDER BY seq"
                    ).fetchall()
                    cutoff = None
                    for seq, size in rows:
                        if excess <= 0:
                            break
                        excess -= int(size)
                        cutoff = int(seq)
                    if cutoff is not None:
                        deleted += self._db.execute(
                            "DELETE FROM alerts WHERE delivered_at IS NOT NULL AND seq <= ?", (cutoff,)
                        ).rowcount
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: prune failed: {exc}") from exc
        if deleted:
            self._pruned.inc(deleted)
            logger.info("outbox pruned %d delivered alerts", deleted)
        return deleted

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Commit what is queued, stop the writer, close the database. While the disk refuses
        commits, retrying goes on for ``timeout_s``; then the alerts not committed are logged."""
        with self._queue_changed:
            self._closing = True
            self._close_deadline = time.monotonic() + timeout_s
            self._queue_changed.notify_all()
        self._closed.set()
        self._writer.join()
        with self._db_lock:
            self._db.close()
