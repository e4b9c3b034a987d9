"""The durable outbox: every alert is numbered, chained, signed and committed to SQLite before anyone
is told it exists.

Layout: one SQLite database in WAL mode, ``state_dir/outbox.db``. ``alerts`` holds the exact payload
bytes (replays are byte-identical by construction); ``chain_head`` holds the last seq and hash in the
same transaction as the alert, so seq stays gapless across restarts and power loss even after every
delivered alert has been pruned. ``evidence`` holds the image of each start and instant alert that
has one, written in its alert's transaction: after a SIGKILL or power loss both exist or neither.

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
which the audit log deduplicates on (device_id, seq). ``event_ids`` (see ``outbox_event_ids``) keeps,
per camera, how far the committed event and track ids reached, in the same transaction and never
pruned: a restarted decider continues its ids past them.

Measured by bench/alerts.py (results/alerts.json) on the shared 2-core CI box at load average 7-8
from other work, so throughput there is a floor: 8 camera threads, ``synchronous=full``, blocking
``submit``: 1,160 alerts/s committed (one fsync per small group); the same with ``append_async``
(64 queued per thread): 2,971/s committed, 2,036/s acknowledged by mosquitto, 1,853/s verified and
stored by the audit subscriber. The gateway then spends about 210-250 us of CPU per alert, much
of it in paho's MQTT v5 PUBACK handling.

Retention (``outbox_retention``): nothing undelivered is pruned; delivered images go first when the
outbox passes ``max_bytes`` (their alerts stay), then delivered alerts, oldest first, and delivered
alerts also go after ``retention_s``. Reads are ``outbox_reads``; what one group commit numbers,
signs and writes is ``outbox_batch``.

Opening: one process at a time (``outbox_lock``); a damaged file, a schema from a newer gateway, a
zero-byte file, a file with no outbox in it (its write-ahead log lost) or a damaged chain head is
refused with an OutboxError naming the file, and a signing key that did not sign the newest alert kept
is said at start (``outbox_checks``, ``outbox_schema``, ``outbox_file``). A new outbox is made whole
under a temporary name before it takes its own, and the file is watched for being deleted while open.
"""

from __future__ import annotations

import collections
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from functools import partial
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.config import GatewayConfig, OutboxConfig
from gateway.delivery import (
    outbox_batch,
    outbox_checks,
    outbox_clock,
    outbox_file,
    outbox_log,
    outbox_retention,
    outbox_schema,
)
from gateway.delivery.outbox_batch import Request, Row, with_images
from gateway.delivery.outbox_clock import CommitClock
from gateway.delivery.outbox_lock import OutboxLock
from gateway.delivery.outbox_metrics import OutboxMetrics
from gateway.delivery.outbox_reads import OutboxReads, OutboxStats, StoredAlert, StoredEvidence
from gateway.delivery.signing_key import KEY_FILE_NAME, load_or_create_key
from gateway.delivery.state_directory import say_open_to_others
from gateway.domain import Alert, AlertEvent
from gateway.errors import OutboxError
from gateway.private_files import make_private_directory
from gateway.protocol.alerts import ZERO_HASH
from gateway.sqlite_open import open_wal_database

__all__ = ["Outbox", "OutboxStats", "StoredAlert", "StoredEvidence"]

logger = logging.getLogger(__name__)

DATABASE_NAME = "outbox.db"
MAX_BATCH_ALERTS = 2000
MAX_QUEUED_ALERTS = 10_000
MAX_QUEUED_EVIDENCE_BYTES = 64 * 2**20
"""Images waiting for their commit, at most (a full queue blocks the caller, like MAX_QUEUED_ALERTS)."""
PRUNE_INTERVAL_S = 60.0
COMMIT_RETRY_MIN_S = 0.05
COMMIT_RETRY_MAX_S = 2.0
CLOSE_TIMEOUT_S = 10.0
BUSY_TIMEOUT_S = 5.0
"""sqlite3's default, kept: nothing else writes this file, so waits are rare and short."""
LOCK_TIMEOUT_S = 5.0
"""How long opening waits for another process to close this outbox (``outbox_lock``)."""


class Outbox(OutboxReads):
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
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock``: the wall clock commits are stamped with; ``monotonic``: the clock its steps are
        told by (``outbox_clock``)."""
        self.device_id = device_id
        self.path = state_dir / DATABASE_NAME
        self._key = key
        self._config = config if config is not None else OutboxConfig()
        self._clock = clock
        self._commit_clock = CommitClock(self._restamp, wall=clock, monotonic=monotonic)
        self._db_lock = threading.Lock()
        self._queue_changed = threading.Condition()
        self._requests: collections.deque[Request] = collections.deque()
        self._queued_alerts = 0
        self._queued_bytes = 0
        self._closing = False
        self._close_deadline = float("inf")
        self._closed = threading.Event()
        self._failure: tuple[float, str] | None = None
        self._listeners: list[Callable[[int], None]] = []
        self._last_prune = 0.0
        self._over_bytes = 0
        self.created = False
        """Whether this open made the outbox (none was there)."""
        try:
            make_private_directory(state_dir)
        except OSError as exc:
            raise OutboxError(f"outbox {self.path}: cannot create {state_dir}: {exc}") from exc
        self._lock = OutboxLock.acquire(state_dir, self.path, LOCK_TIMEOUT_S)
        try:
            self._db, row = self._open()
        except BaseException:
            self._lock.release()
            raise
        self._last_seq, self._last_hash = row if row is not None else (0, ZERO_HASH)
        self._opened_at_seq = self._last_seq
        self._restamped = 0.0
        """The steps ``_restamp`` moved the written rows by, added up; under the database lock."""
        self._file_watch = outbox_file.FileWatch(self.path)
        outbox_checks.check_key(self._db, self.path, self._key, self._last_seq)
        registry = registry if registry is not None else CollectorRegistry()
        self._metrics = OutboxMetrics(registry)
        self._metrics.last_seq.set(self._last_seq)
        logger.info(
            "outbox %s open at seq %d (synchronous=%s)", self.path, self._last_seq, self._config.synchronous
        )
        self._writer = threading.Thread(target=self._write_loop, name="outbox-writer", daemon=True)
        try:
            self._writer.start()
        except BaseException:
            # Refused (the task or memory limit reached): the file and its lock are let go, as when
            # opening fails.
            self._db.close()
            self._lock.release()
            raise

    def _open(self) -> tuple[sqlite3.Connection, tuple[int, str] | None]:
        """The database (migrated) and its chain head; the caller holds the lock."""
        outbox_checks.refuse_unusable_file(self.path)
        outbox_file.refuse_lost_log(self.path)
        outbox_log.say_shortfall(
            self.path, outbox_file.beside(self.path, "-wal"), outbox_file.beside(self.path, "-shm")
        )
        # Autocommit mode: transactions are explicit BEGIN IMMEDIATE ... COMMIT below.
        open_database = partial(
            open_wal_database, synchronous=self._config.synchronous, busy_timeout_s=BUSY_TIMEOUT_S
        )
        if not os.path.exists(self.path):
            # Where a link points, if the outbox's name is one (the outbox kept on another disk).
            outbox_file.create(Path(os.path.realpath(self.path)), open_database, outbox_schema.migrate)
            self.created = True
        try:
            db = open_database(self.path)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot open: {exc}") from exc
        try:
            outbox_file.refuse_not_outbox(db, self.path)
            outbox_schema.migrate(db)
            head = outbox_checks.chain_head(db, self.path)
        except sqlite3.Error as exc:
            db.close()
            raise OutboxError(f"outbox {self.path}: cannot open: {exc}") from exc
        except outbox_schema.SchemaError as exc:
            db.close()
            raise OutboxError(f"outbox {self.path}: {exc}") from exc
        except OutboxError:
            db.close()
            raise
        return db, head

    @classmethod
    def from_config(cls, config: GatewayConfig, registry: CollectorRegistry | None = None) -> Outbox:
        key_file = config.mqtt.signing_key_file if config.mqtt is not None else None
        generated = config.state_dir / KEY_FILE_NAME
        # lexists: a state_dir that cannot be searched is for load_or_create_key to name.
        key_was_there = key_file is None and os.path.lexists(generated)
        key = load_or_create_key(config.state_dir, key_file)
        outbox = cls(config.state_dir, config.device_id, key, config=config.outbox, registry=registry)
        say_open_to_others(config.state_dir, outbox.path, key_file if key_file is not None else generated)
        if outbox.created and key_was_there:
            # The key is generated with the first outbox: one without the other is an outbox lost.
            logger.warning(
                "outbox %s was made anew, while the signing key generated with the one before is still in "
                "%s: if this device's alerts reached the audit side, it will reject seqs 1 on as "
                "duplicates of those (restore the outbox if it was lost)",
                outbox.path,
                generated,
            )
        return outbox

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """``listener(last_seq)`` runs after every commit (on the committing thread; keep it short)."""
        self._listeners.append(listener)

    def file_problem(self) -> str | None:
        """Why the file open is no longer the outbox at its path (deleted or replaced while open), or
        None while it is."""
        return self._file_watch.problem()

    def commit_failure(self) -> tuple[float, str] | None:
        """(wall-clock time of the first refused attempt, the error) while commits fail, else None."""
        return self._failure

    def append_many(self, events: Sequence[AlertEvent], evidence: Sequence[bytes | None] = ()) -> list[Alert]:
        """Commit ``events`` with consecutive seqs; returns once they are durable."""
        return self.append_async(events, evidence).result()

    def append_async(
        self, events: Sequence[AlertEvent], evidence: Sequence[bytes | None] = ()
    ) -> Future[list[Alert]]:
        """Queue ``events`` (consecutive seqs, in order) with the images of those whose ``evidence``
        is set (``evidence`` aligned with ``events``, or empty when none has one); the Future
        resolves once alerts and images are durable, or fails with OutboxError. Blocks only while
        MAX_QUEUED_ALERTS or MAX_QUEUED_EVIDENCE_BYTES are already waiting."""
        future: Future[list[Alert]] = Future()
        if not events:
            future.set_result([])
            return future
        request = Request(*with_images(events, evidence), future)
        with self._queue_changed:
            while (
                self._queued_alerts >= MAX_QUEUED_ALERTS or self._queued_bytes >= MAX_QUEUED_EVIDENCE_BYTES
            ) and not self._closing:
                self._queue_changed.wait()
            if self._closing:
                raise OutboxError(f"outbox {self.path}: closed")
            self._requests.append(request)
            self._queued_alerts += len(events)
            self._queued_bytes += request.evidence_bytes
            self._queue_changed.notify_all()
        return future

    def _write_loop(self) -> None:
        while True:
            with self._queue_changed:
                while not self._requests and not self._closing:
                    self._queue_changed.wait()
                if not self._requests:
                    return
                batch: list[Request] = []
                count = 0
                while self._requests and count < MAX_BATCH_ALERTS:
                    batch.append(self._requests.popleft())
                    count += len(batch[-1].events)
                    self._queued_bytes -= batch[-1].evidence_bytes
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

    def _commit_batch(self, requests: list[Request]) -> None:
        now, stepped = self._commit_clock.reading()
        numbered = outbox_batch.number(
            requests,
            (self._last_seq, self._last_hash),
            device_id=self.device_id,
            key=self._key,
            now=now,
            path=self.path,
        )
        rows, seq, previous = numbered.rows, numbered.seq, numbered.last_hash
        if not rows:
            return
        if not self._write_with_retries(rows, seq, previous, stepped):
            for request in numbered.requests:
                request.future.set_exception(
                    OutboxError(f"outbox {self.path}: closed while the disk refused commits")
                )
            return
        self._last_seq, self._last_hash = seq, previous
        self._file_watch.problem()  # logged as soon as a commit goes into a file no longer there
        self._metrics.committed.inc(len(rows))
        self._metrics.commits.inc()
        self._metrics.last_seq.set(seq)
        for request, alerts in zip(numbered.requests, numbered.alerts, strict=True):
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

    def _write_with_retries(self, rows: Sequence[Row], seq: int, last_hash: str, stepped: float) -> bool:
        """Commit ``rows``, retrying while the disk refuses; False only when ``close`` gave up.
        ``stepped``: the commit clock's steps when they were stamped (``_write``)."""
        delay = COMMIT_RETRY_MIN_S
        while True:
            try:
                self._write(rows, seq, last_hash, stepped)
            except (sqlite3.Error, OSError) as exc:
                self._metrics.commit_failures.inc()
                if self._failure is None:
                    self._failure = (self._clock(), f"{type(exc).__name__}: {exc}")
                    self._metrics.failing.set(1)
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
                self._metrics.failing.set(0)
            return True

    def _write(self, rows: Sequence[Row], seq: int, last_hash: str, stepped: float) -> None:
        with self._db_lock:
            # A step told since the stamp (another thread read the clock) moved the rows already
            # written; these move by as much. One told later moves them with the rest.
            behind = self._restamped - stepped
            outbox_batch.write_rows(
                self._db, outbox_clock.late(rows, behind) if behind else rows, seq, last_hash
            )

    def mark_delivered(self, seqs: Iterable[int], evidence_seqs: Iterable[int] = ()) -> None:
        """Record PUBACKs of alerts and of images (by their alert's seq): one transaction for the
        whole batch, without its own fsync.

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
                    self._db.executemany(
                        "UPDATE evidence SET delivered_at = ? WHERE seq = ? AND delivered_at IS NULL",
                        [(now, seq) for seq in evidence_seqs],
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                finally:
                    self._db.execute(f"PRAGMA synchronous={self._config.synchronous.upper()}")
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot mark delivered: {exc}") from exc

    def maybe_prune(self, now: float | None = None) -> int:
        """``prune`` at most every PRUNE_INTERVAL_S; called after commits and by the publisher's
        idle loop, so age-based retention also happens when no new alerts arrive."""
        now = self._commit_clock.now() if now is None else now
        # A clock that stepped back (NTP) must not stop retention until it catches up again.
        due = now - self._last_prune >= PRUNE_INTERVAL_S or now < self._last_prune
        return self.prune(now) if due else 0

    def prune(self, now: float | None = None) -> int:
        """Apply retention (``outbox_retention``); returns how many alerts were deleted."""
        now = self._commit_clock.now() if now is None else now
        self._last_prune = now
        try:
            with self._db_lock:
                pruned = outbox_retention.prune(
                    self._db, now, retention_s=self._config.retention_s, max_bytes=self._config.max_bytes
                )
                # Once per crossing (the writer and the publisher both prune): nothing undelivered is
                # pruned, so only delivery (or a full disk) ends it.
                crossed = pruned.over_bytes > 0 and not self._over_bytes
                self._over_bytes = pruned.over_bytes
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: prune failed: {exc}") from exc
        if pruned.alerts:
            self._metrics.pruned.inc(pruned.alerts)
            logger.info("outbox pruned %d delivered alerts", pruned.alerts)
        if pruned.images:
            self._metrics.pruned_images.inc(pruned.images)
            logger.info("outbox pruned %d delivered evidence images (their alerts kept)", pruned.images)
        if crossed:
            logger.warning(
                "outbox %s is %d bytes over outbox.max_bytes (%d) with undelivered alerts and images, which "
                "are never pruned: it grows until the broker takes them or the disk is full (then commits "
                "are refused and health fails)",
                self.path,
                pruned.over_bytes,
                self._config.max_bytes,
            )
        return pruned.alerts

    def _restamp(self, step: float) -> None:
        """The wall clock stepped by ``step`` (``outbox_clock``): the alerts this run committed move
        onto it, so retention ages them by the time they were kept."""
        with self._db_lock:
            outbox_clock.restamp(self._db, step, self._opened_at_seq)
            self._restamped += step

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
        self._lock.release()
