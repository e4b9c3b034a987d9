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

Status: retained messages are not delivered to shared subscriptions (MQTT v5), so each instance
reads ``{prefix}/+/status`` on an ordinary subscription of its own (``gateway.audit.status``) and
writes what it reads. Every instance sees each device's status messages in the broker's order, so
their writes converge on the last one, provided an instance that is behind cannot put an older
state back. A status replaces the stored one when, in this order:

- it is not the stored message itself (the same state and device ``ts``: another instance's copy
  of it, or the retained copy an instance is sent again when it reconnects);
- this instance received the stored message before it (``StatusArrivals``: counted on arrival, no
  clock), which is the broker's order however the instance's clock has been stepped in between;
- otherwise (another instance wrote the stored one, or this one wrote it before a restart) it
  arrived no earlier by the wall clock, the stored arrival time being the other instance's; or the
  stored arrival time is further ahead of this host's clock now than ``ARRIVAL_CLOCK_TOLERANCE_S``:
  a clock that ran fast wrote it, and has been stepped back since (NTP), so it orders nothing.

Ordering on arrival time alone froze the status after an audit host's clock was stepped back: every
status then arrived "before" the stored one, and a device's offline, its restart and its last will
were all dropped as duplicates for as long as the step. The device's own ``ts`` identifies a message
but never orders one: a last will carries the time its connection was opened, which is earlier
than the ``online`` that followed it, and a device's clock is stepped too.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.audit.database import Database
from gateway.audit.records import IngestResult, Outcome, ReceivedMessage, RejectReason, stored_bytes
from gateway.audit.schema import DROPPED_TABLE, NO_DEVICE
from gateway.printable import printable
from gateway.protocol.alerts import parse_timestamp

logger = logging.getLogger(__name__)

STATES = frozenset({"online", "offline"})
GAP_RANGES_SHOWN = 10
"""Missing ranges listed per device in the fleet view; the count covers all of them."""
ARRIVAL_CLOCK_TOLERANCE_S = 10.0
"""How far ahead of this host's clock a stored arrival time (a status's, an alert's) may be and still
order what is written after it: the audit hosts' clocks, kept by NTP, agree within this. Further
ahead, the clock that read it ran fast and has been stepped back since."""
ARRIVALS_KEPT = 16
"""Status messages per device whose arrival order an instance remembers: an instance whose store
is behind by more of one device's status changes falls back on arrival times."""


def status_target(topic: str, prefix: str) -> str | None:
    """``{prefix}/{device_id}/status`` -> device_id, or None for any other topic."""
    head = f"{prefix}/"
    if not topic.startswith(head) or not topic.endswith("/status"):
        return None
    device_id = topic[len(head) : -len("/status")]
    return device_id if device_id and "/" not in device_id else None


@dataclass(frozen=True, slots=True)
class ReceivedStatus:
    index: int
    device_id: str
    state: str
    ts: str | None
    received_at: float
    live: bool = False
    arrival: int | None = None

    @property
    def identity(self) -> tuple[str, str] | None:
        """What tells this message from any other of its device: its state and ``ts`` (to the
        microsecond); None without a ``ts``, when two messages of one state cannot be told apart."""
        return None if self.ts is None else (self.state, self.ts)

    @property
    def clock_offset_s(self) -> float | None:
        """The device's clock minus the audit's, when this message can tell it: a live ``online``
        (a retained one, or an ``offline`` last will, was sent long before it arrived)."""
        if not self.live or self.state != "online" or self.ts is None:
            return None
        return parse_timestamp(self.ts) - self.received_at


def parse_status(index: int, device_id: str, message: ReceivedMessage) -> ReceivedStatus | IngestResult:
    """A status message, or the reason it is not one (``{"state": "online"|"offline", "ts": ...}``)."""
    try:
        data = json.loads(message.payload)
    except (ValueError, RecursionError):
        data = None
    state = data.get("state") if isinstance(data, dict) else None
    if not isinstance(state, str) or state not in STATES:
        detail = f'{message.topic}: not {{"state": "online"|"offline", ...}}'
        return IngestResult(Outcome.REJECTED, device_id, None, RejectReason.SCHEMA, detail, status=True)
    ts = data.get("ts")
    if ts is not None and not _is_timestamp(ts):
        detail = f"{message.topic}: ts must be RFC 3339 UTC with microseconds, or absent"
        return IngestResult(Outcome.REJECTED, device_id, None, RejectReason.SCHEMA, detail, status=True)
    return ReceivedStatus(index, device_id, state, ts, message.received_at, message.live, message.arrival)


def _is_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True


class StatusArrivals:
    """The order in which this instance received each device's recent status messages, by their
    identity: what lets it tell, without a clock, that the stored status came before one it holds.
    Used by the store thread only."""

    def __init__(self, kept: int = ARRIVALS_KEPT) -> None:
        self._kept = kept
        self._devices: dict[str, OrderedDict[tuple[str, str], int]] = {}

    def note(self, status: ReceivedStatus) -> None:
        identity = status.identity
        if identity is None or status.arrival is None:
            return
        seen = self._devices.setdefault(status.device_id, OrderedDict())
        seen[identity] = status.arrival
        seen.move_to_end(identity)
        while len(seen) > self._kept:
            seen.popitem(last=False)

    def came_before(self, device_id: str, identity: tuple[str, str], status: ReceivedStatus) -> bool:
        """Whether this instance received the message ``identity`` before ``status``."""
        seen = self._devices.get(device_id)
        arrival = None if seen is None else seen.get(identity)
        return arrival is not None and status.arrival is not None and arrival < status.arrival


@dataclass(frozen=True, slots=True)
class _StoredStatus:
    identity: tuple[str, str] | None
    received_at: float | None


def record_statuses(
    database: Database,
    device_id: str,
    statuses: Sequence[ReceivedStatus],
    arrivals: StatusArrivals,
    now: float,
) -> list[tuple[int, IngestResult]]:
    """Apply one device's status messages in arrival order, inside the caller's transaction with the
    device locked; one that is not newer than the stored one (see the module's docstring) is a
    duplicate and changes nothing. ``now``: this host's wall clock."""
    (row,) = database.execute(
        "SELECT status, status_ts, status_received_at FROM audit_devices WHERE device_id = ?", (device_id,)
    )
    stored = (
        None
        if row[0] is None
        else _StoredStatus(None if row[1] is None else (str(row[0]), str(row[1])), _number(row[2]))
    )
    results = []
    latest: ReceivedStatus | None = None
    offset: float | None = None
    # The order they came in: their arrival times are out of order where the clock was stepped.
    for status in sorted(statuses, key=lambda item: item.index):
        newer = stored is None or _newer(status, stored, arrivals, now)
        arrivals.note(status)
        if not newer:
            results.append((status.index, IngestResult(Outcome.DUPLICATE, device_id, None, status=True)))
            continue
        stored, latest = _StoredStatus(status.identity, status.received_at), status
        offset = status.clock_offset_s if status.clock_offset_s is not None else offset
        results.append((status.index, IngestResult(Outcome.STORED, device_id, None, status=True)))
    if latest is not None:
        database.execute(
            "UPDATE audit_devices SET status = ?, status_ts = ?, status_received_at = ?, "
            "clock_offset_s = COALESCE(?, clock_offset_s) WHERE device_id = ?",
            (latest.state, latest.ts, latest.received_at, offset, device_id),
        )
    return results


def _newer(status: ReceivedStatus, stored: _StoredStatus, arrivals: StatusArrivals, now: float) -> bool:
    if stored.identity is not None and status.identity == stored.identity:
        return False
    if stored.identity is not None and arrivals.came_before(status.device_id, stored.identity, status):
        return True
    if stored.received_at is None or status.received_at >= stored.received_at:
        return True
    return stored.received_at > now + ARRIVAL_CLOCK_TOLERANCE_S


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
            status_received_at=_number(row[3]),
            contiguous_seq=int(row[4]),
            last_seq=int(row[5]),
            alerts_stored=int(row[6]),
            last_alert_at=_number(row[7]),
            last_stored_at=_number(row[8]),
            lag_s=_number(row[9]),
            evidence_missing=int(missing.get(device_id, 0)),
            rejected=count,
            last_rejection=reason,
            last_rejected_at=rejected_at,
            gaps=first_gaps(database, device_id, int(row[4]), GAP_RANGES_SHOWN)
            if gaps and int(row[5]) > int(row[4])
            else (),
            clock_offset_s=_number(row[10]),
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


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
