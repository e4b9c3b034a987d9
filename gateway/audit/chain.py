"""One device's alerts linked into its stored chain: dedup and chain checks against what is
stored, then one write per table (``gateway.audit.store`` locks the device and calls ``store``).

A copy whose hash equals the stored one is a duplicate; another alert at a stored seq is a
conflict; an alert whose ``prev_hash`` does not link to the stored ``seq - 1`` (``ZERO_HASH`` for
seq 1), or that the stored ``seq + 1`` does not link to, breaks the chain. The device's
``contiguous_seq`` (every seq up to it is stored) and ``max_seq`` move with what is stored, and the
fleet view's counts and times are updated in the same transaction (``gateway.audit.fleet``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from gateway.audit.database import Database
from gateway.audit.evidence import EvidenceLedger
from gateway.audit.fleet_status import ARRIVAL_CLOCK_TOLERANCE_S
from gateway.audit.records import IngestResult, Outcome, ReceivedMessage, RejectReason
from gateway.domain import Alert
from gateway.protocol.alerts import MAX_SEQ, ZERO_HASH

__all__ = ["LOOKUP_CHUNK", "ChainWriter"]

LOOKUP_CHUNK = 500
"""Seqs per ``IN (...)`` lookup: well under SQLite's limit on bound parameters."""


class ChainWriter:
    """Writes inside the store's open transaction (it owns the connection)."""

    def __init__(
        self, database: Database, evidence: EvidenceLedger, contiguous_from: Callable[[str, int], int]
    ) -> None:
        self._database = database
        self._evidence = evidence
        self._contiguous_from = contiguous_from
        """(device_id, seq) -> the last seq of the run of stored seqs from ``seq`` on."""

    def store(
        self,
        device_id: str,
        items: list[tuple[int, Alert, ReceivedMessage]],
        contiguous: int,
        highest: int,
        now: float,
    ) -> list[tuple[int, IngestResult]]:
        """Dedup and chain checks for one device's alerts (in seq order; the device locked at
        ``contiguous``/``highest``), then one write per table. ``now``: this host's wall clock."""
        if not items:
            return []
        batch_seqs = {alert.seq for _, alert, _ in items}
        known = self._stored_links(
            device_id, batch_seqs | {seq - 1 for seq in batch_seqs} | {seq + 1 for seq in batch_seqs}
        )
        results: list[tuple[int, IngestResult]] = []
        stored: list[tuple[Alert, ReceivedMessage]] = []
        top = highest
        for index, alert, message in items:
            result = _link(alert, known)
            if result.outcome is Outcome.STORED:
                known[alert.seq] = (alert.hash, alert.prev_hash)
                highest = max(highest, alert.seq)
                stored.append((alert, message))
                result = dataclasses.replace(result, lag_s=message.received_at - alert.event.frame_ts)
            results.append((index, result))
        if not stored:
            return results
        # Every stored seq: an image held for an alert that names none is rejected, as it would be
        # had it come after the alert.
        named = {
            alert.seq: alert.event.evidence.sha256 if alert.event.evidence else None for alert, _ in stored
        }
        complete = self._evidence.adopt(device_id, named)
        digests = {seq: digest for seq, digest in named.items() if digest is not None}
        self._database.execute_many(
            "INSERT INTO audit_alerts (device_id, seq, hash, prev_hash, payload, received_at, "
            "evidence_sha256, evidence_missing, alert_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(device_id, alert.seq, alert.hash, alert.prev_hash, message.payload, message.received_at,
              digests.get(alert.seq), int(alert.seq in digests and alert.seq not in complete),
              alert.event.frame_ts)
             for alert, message in stored],
        )  # fmt: skip
        start = contiguous
        while contiguous + 1 in known:
            contiguous += 1
        if contiguous > start and highest > contiguous:
            contiguous = self._contiguous_from(device_id, contiguous)
        latest_alert, latest = max(stored, key=lambda item: (item[1].received_at, item[0].seq))
        newest_alert_at = next((alert.event.frame_ts for alert, _ in stored if alert.seq == highest), None)
        # The fleet view (gateway.audit.fleet): counts and times, in the transaction that stores them.
        # The last store time and its lag move forward only, so an instance whose batch arrived
        # before another's but commits after it does not put them back; but a stored time further
        # ahead of this host's clock than the clocks disagree was read by a clock since stepped
        # back, and kept them frozen for as long as the step: it is replaced.
        ahead = now + ARRIVAL_CLOCK_TOLERANCE_S
        self._database.execute(
            "UPDATE audit_devices SET contiguous_seq = ?, max_seq = ?, alerts_stored = alerts_stored + ?, "
            "last_alert_at = CASE WHEN ? > ? THEN ? ELSE last_alert_at END, "
            "lag_s = CASE WHEN last_stored_at IS NULL OR last_stored_at <= ? OR last_stored_at > ? "
            "THEN ? ELSE lag_s END, "
            "last_stored_at = CASE WHEN last_stored_at IS NULL OR last_stored_at <= ? "
            "OR last_stored_at > ? THEN ? ELSE last_stored_at END WHERE device_id = ?",
            (contiguous, highest, len(stored), highest, top, newest_alert_at,
             latest.received_at, ahead, latest.received_at - latest_alert.event.frame_ts,
             latest.received_at, ahead, latest.received_at, device_id),
        )  # fmt: skip
        return results

    def _stored_links(self, device_id: str, seqs: set[int]) -> dict[int, tuple[str, str]]:
        """seq -> (hash, prev_hash) of the given seqs that are stored."""
        wanted = sorted(seq for seq in seqs if 1 <= seq <= MAX_SEQ)
        known: dict[int, tuple[str, str]] = {}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            rows = self._database.execute(
                "SELECT seq, hash, prev_hash FROM audit_alerts WHERE device_id = ? "
                f"AND seq IN ({', '.join('?' * len(chunk))})",
                (device_id, *chunk),
            )
            known.update({int(row[0]): (str(row[1]), str(row[2])) for row in rows})
        return known


def _link(alert: Alert, known: Mapping[int, tuple[str, str]]) -> IngestResult:
    seq = alert.seq
    if seq in known:
        if known[seq][0] == alert.hash:
            return IngestResult(Outcome.DUPLICATE, alert.device_id, seq)
        return _rejection(alert, RejectReason.CONFLICT, f"seq {seq} is already stored with other content")
    previous_hash = ZERO_HASH if seq == 1 else known.get(seq - 1, (None, None))[0]
    if previous_hash is not None and alert.prev_hash != previous_hash:
        return _rejection(alert, RejectReason.CHAIN, f"seq {seq}: prev_hash does not link to seq {seq - 1}")
    if seq + 1 in known and known[seq + 1][1] != alert.hash:
        return _rejection(
            alert, RejectReason.CHAIN, f"seq {seq}: the stored seq {seq + 1} does not link to this alert"
        )
    return IngestResult(Outcome.STORED, alert.device_id, seq)


def _rejection(alert: Alert, reason: RejectReason, detail: str) -> IngestResult:
    return IngestResult(Outcome.REJECTED, alert.device_id, alert.seq, reason, detail)
