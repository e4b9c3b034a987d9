"""Device status messages in the audit store: read from the retained status topic, written by every
audit instance, ordered as the broker delivered them.

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

import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.audit.database import Database
from gateway.audit.records import IngestResult, Outcome, ReceivedMessage, RejectReason, stored_number
from gateway.protocol.alerts import parse_timestamp

logger = logging.getLogger("gateway.audit.fleet")

STATES = frozenset({"online", "offline"})
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
        else _StoredStatus(None if row[1] is None else (str(row[0]), str(row[1])), stored_number(row[2]))
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
