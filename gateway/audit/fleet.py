"""Fleet state in the audit store: what every audit instance knows about every device, answered the
same by any of them because it lives in the database, not in an instance's memory.

Per device (``audit_devices``, schema versions 3 and 4): the chain state the store keeps anyway
(``contiguous_seq``, ``max_seq``), the count of stored alerts (so ``max_seq - alerts_stored`` alerts
are missing, without a scan), the alert time of the highest seq, when the most recently stored alert
arrived and its lag (arrival minus alert time, so clock skew between a device and the audit side
shows in it), the device's clock offset (its clock minus the audit's, measured from a live
``online`` status: ``ts`` is when the device sent it and it arrives within the broker's hop, so the
difference is the clocks', not delivery), and the device's online/offline state from its retained
status topic. Lag plus clock offset is the delivery delay: how long the alert really took. Rejected
messages are counted from ``audit_rejected`` and evidence still missing from the partial index on
``audit_alerts``, so neither can drift from what is stored.

Status messages, and how one replaces the stored one: ``fleet_status``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.audit.database import Database
from gateway.audit.records import stored_bytes, stored_number
from gateway.audit.schema import DROPPED_TABLE, NO_DEVICE
from gateway.printable import printable

logger = logging.getLogger(__name__)

GAP_RANGES_SHOWN = 10
"""Missing ranges listed per device in the fleet view; the count covers all of them."""


@dataclass(frozen=True, slots=True)
class DeviceState:
    device_id: str
    status: str | None
    """``online``, ``offline``, or None when no status message has arrived."""
    status_ts: str | None
    status_received_at: float | None
    contiguous_seq: int
    last_seq: int
    alerts_stored: int
    last_alert_at: float | None
    last_stored_at: float | None
    lag_s: float | None
    evidence_missing: int
    rejected: int
    last_rejection: str | None
    last_rejected_at: float | None
    gaps: tuple[tuple[int, int], ...] = ()
    """The first GAP_RANGES_SHOWN missing ranges (inclusive)."""
    clock_offset_s: float | None = None
    """The device's clock minus the audit's, None until a live ``online`` status has measured it."""

    @property
    def missing_alerts(self) -> int:
        return self.last_seq - self.alerts_stored

    @property
    def delivery_delay_s(self) -> float | None:
        """How long the most recently stored alert took to arrive, the device's clock offset taken
        out of its lag; the lag itself while the offset is unknown."""
        if self.lag_s is None:
            return None
        return self.lag_s + (self.clock_offset_s or 0.0)


def read_devices(database: Database, only: str | None = None, *, gaps: bool = True) -> list[DeviceState]:
    """Every device the store knows (alerts, status or rejected messages), by device id; or ``only``
    that one. ``gaps=False`` leaves out the missing ranges (a read per device that has any: for a
    summary, or a page of the fleet that reads them for its own devices with ``with_gaps``)."""
    where, parameters = ("", ()) if only is None else (" AND device_id = ?", (only,))
    rows = database.execute(
        "SELECT device_id, status, status_ts, status_received_at, contiguous_seq, max_seq, alerts_stored, "
        f"last_alert_at, last_stored_at, lag_s, clock_offset_s FROM audit_devices WHERE 1 = 1{where}",
        parameters,
    )
    missing = dict(
        database.execute(
            "SELECT device_id, COUNT(*) FROM audit_alerts WHERE evidence_missing = 1"
            f"{where} GROUP BY device_id",
            parameters,
        )
    )
    rejected = {
        row[0]: (int(row[1]), int(row[2]))
        for row in database.execute(
            "SELECT device_id, COUNT(*), MAX(id) FROM audit_rejected WHERE device_id IS NOT NULL"
            f"{where} GROUP BY device_id",
            parameters,
        )
    }
    # Those the bounds dropped (gateway.audit.bounds) still count: the count is of what arrived.
    for device_id, dropped in database.execute(
        f"SELECT device_id, dropped FROM {DROPPED_TABLE} WHERE device_id <> ?{where}",
        (NO_DEVICE, *parameters),
    ):
        count, newest = rejected.get(device_id, (0, -1))
        rejected[device_id] = (count + int(dropped), newest)
    last = {}
    ids = [newest for _, newest in rejected.values() if newest >= 0]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row_id, reason, received_at in database.execute(
            f"SELECT id, reason, received_at FROM audit_rejected WHERE id IN ({', '.join('?' * len(chunk))})",
            chunk,
        ):
            last[int(row_id)] = (str(reason), float(received_at))
    states: dict[str, DeviceState] = {}
    for row in rows:
        device_id = str(row[0])
        count, newest = rejected.get(device_id, (0, -1))
        reason, rejected_at = last.get(newest, (None, None))
        states[device_id] = DeviceState(
            device_id=device_id,
            status=None if row[1] is None else str(row[1]),
            status_ts=None if row[2] is None else str(row[2]),
            status_received_at=stored_number(row[3]),
            contiguous_seq=int(row[4]),
            last_seq=int(row[5]),
            alerts_stored=int(row[6]),
            last_alert_at=stored_number(row[7]),
            last_stored_at=stored_number(row[8]),
            lag_s=stored_number(row[9]),
            evidence_missing=int(missing.get(device_id, 0)),
            rejected=count,
            last_rejection=reason,
            last_rejected_at=rejected_at,
            gaps=first_gaps(database, device_id, int(row[4]), GAP_RANGES_SHOWN)
            if gaps and int(row[5]) > int(row[4])
            else (),
            clock_offset_s=stored_number(row[10]),
        )
    for device_id, (count, newest) in rejected.items():
        if device_id not in states:  # only rejected messages so far (an unknown key, a broken chain)
            reason, rejected_at = last.get(newest, (None, None))
            states[device_id] = DeviceState(
                str(device_id), None, None, None, 0, 0, 0, None, None, None, 0, count, reason, rejected_at
            )
    return [states[device_id] for device_id in sorted(states)]


def with_gaps(database: Database, states: Sequence[DeviceState]) -> list[DeviceState]:
    """``states`` (read with ``gaps=False``) with the first GAP_RANGES_SHOWN missing ranges of each."""
    return [
        dataclasses.replace(
            state, gaps=first_gaps(database, state.device_id, state.contiguous_seq, GAP_RANGES_SHOWN)
        )
        if state.last_seq > state.contiguous_seq
        else state
        for state in states
    ]


PAGE_BYTES = 8 * 2**20
"""Most bytes of signed alerts one page of a device's alerts holds, past its first alert."""


def first_gaps(
    database: Database, device_id: str, contiguous: int, limit: int
) -> tuple[tuple[int, int], ...]:
    """The first ``limit`` missing ranges above the contiguous run, as inclusive (first, last) seqs,
    read page by page and stopping early: a device may have millions of alerts stored above a gap."""
    ranges: list[tuple[int, int]] = []
    expected = contiguous + 1
    while len(ranges) < limit:
        rows = database.execute(
            "SELECT seq FROM audit_alerts WHERE device_id = ? AND seq >= ? ORDER BY seq LIMIT 1000",
            (device_id, expected),
        )
        for (seq,) in rows:
            if int(seq) > expected:
                ranges.append((expected, int(seq) - 1))
                if len(ranges) >= limit:
                    break
            expected = int(seq) + 1
        if len(rows) < 1000:
            break
    return tuple(ranges)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One stored alert as the fleet API shows it: the signed payload and what the store adds."""

    seq: int
    payload: bytes
    received_at: float
    evidence_missing: bool


def read_alerts(
    database: Database,
    device_id: str,
    from_seq: int,
    limit: int,
    *,
    since: float | None = None,
    until: float | None = None,
) -> list[StoredEntry]:
    """Up to ``limit`` stored alerts from ``from_seq`` on, in seq order, and no more of them than fill
    PAGE_BYTES (the first always comes): the store keeps any alert its device signed, and a page of a
    thousand alerts of 5 MB each was read whole into memory and answered as one body. ``since`` /
    ``until`` (seconds since the epoch): only the alerts whose alert time is at or after ``since``
    and before ``until``."""
    bounds, bounded = _time_bounds(since, until)
    through = ""
    if bounds:
        # The seqs within the bounds from the index alone; the rows are read between the first and
        # the last of them only (a device's alert times rise with its seqs, but for a clock set back).
        seqs = database.execute(
            "SELECT seq FROM audit_alerts "
            f"WHERE device_id = ? AND seq >= ?{bounds} ORDER BY seq LIMIT {int(limit)}",
            (device_id, from_seq, *bounded),
        )
        if not seqs:
            return []
        from_seq, through = int(seqs[0][0]), f" AND seq <= {int(seqs[-1][0])}"
    sizes = database.execute(
        "SELECT seq, LENGTH(payload) FROM audit_alerts "
        f"WHERE device_id = ? AND seq >= ?{through}{bounds} ORDER BY seq LIMIT {int(limit)}",
        (device_id, from_seq, *bounded),
    )
    taken, total = 0, 0
    for _, size in sizes:
        if taken and total + int(size) > PAGE_BYTES:
            break
        taken, total = taken + 1, total + int(size)
    if not taken:
        return []
    rows = database.execute(
        "SELECT seq, payload, received_at, evidence_missing FROM audit_alerts "
        f"WHERE device_id = ? AND seq >= ? AND seq <= ?{bounds} ORDER BY seq",
        (device_id, from_seq, int(sizes[taken - 1][0]), *bounded),
    )
    return [
        StoredEntry(
            int(row[0]),
            stored_bytes(row[1], f"the alert of {printable(device_id)} seq {row[0]}"),
            float(row[2]),
            bool(row[3]),
        )
        for row in rows
    ]


def alerts_after(
    database: Database, device_id: str, seq: int, *, since: float | None = None, until: float | None = None
) -> bool:
    """Whether the device has a stored alert after ``seq`` within the time bounds."""
    bounds, bounded = _time_bounds(since, until)
    return bool(
        database.execute(
            f"SELECT 1 FROM audit_alerts WHERE device_id = ? AND seq > ?{bounds} LIMIT 1",
            (device_id, seq, *bounded),
        )
    )


def _time_bounds(since: float | None, until: float | None) -> tuple[str, tuple[float, ...]]:
    """The SQL that keeps the alerts within the bounds given, and its parameters. A row without an
    alert time (its payload did not read, or an older release stored it) is within none."""
    clauses = [(" AND alert_at >= ?", since), (" AND alert_at < ?", until)]
    return (
        "".join(clause for clause, bound in clauses if bound is not None),
        tuple(bound for _, bound in clauses if bound is not None),
    )
