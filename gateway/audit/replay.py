"""When to ask a device to replay the alerts the audit log is missing.

A gap (a missing seq below the highest stored one), or a stored alert whose evidence image has not
arrived, is usually just reordering or a redelivery still on its way, so nothing is asked until it
has been open for ``replay_after_s``. Then the device is
asked, and asked again while the gap stays open, each time waiting twice as long (up to
``max_interval_s``): a device that pruned those alerts or is offline is not flooded with requests.
While a gap fills (its device's contiguous seq grows: a device replays from the lowest seq up) the
next request waits for that wait after the latest progress, not after the request: a replay of
30,000 alerts takes longer than the first waits, and asking again meanwhile had the device send
most of it again (five requests: 105,000 alerts republished instead of 30,000).
Pure logic, driven by the subscriber with the clock passed in.

``ProgressFeed`` reads into the scheduler the progress of the devices each stored batch touched.
A read that fails (the database restarting right after the batch committed) is kept for the next
round: it ended the subscriber's store thread, so a PostgreSQL restart stopped ``audit serve``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from gateway.audit.records import DeviceProgress

DEFAULT_MAX_INTERVAL_S = 300.0


@dataclass(slots=True)
class _OpenGap:
    due_at: float
    interval_s: float
    contiguous_seq: int


class ReplayScheduler:
    def __init__(self, replay_after_s: float, max_interval_s: float = DEFAULT_MAX_INTERVAL_S) -> None:
        self._replay_after_s = replay_after_s
        self._max_interval_s = max(max_interval_s, replay_after_s)
        self._open: dict[str, _OpenGap] = {}

    def observe(self, progress: Iterable[DeviceProgress], now: float) -> None:
        """Note the devices' current state: a new gap starts its wait, a closed one is forgotten."""
        for device in progress:
            gap = self._open.get(device.device_id)
            if not device.needs_replay:
                self._open.pop(device.device_id, None)
            elif gap is None:
                self._open[device.device_id] = _OpenGap(
                    now + self._replay_after_s, self._replay_after_s, device.contiguous_seq
                )
            elif device.has_gap and device.contiguous_seq > gap.contiguous_seq:
                # Only a gap filling moves the contiguous seq (new alerts land above the gap).
                gap.contiguous_seq = device.contiguous_seq
                gap.due_at = max(gap.due_at, now + gap.interval_s)

    def due(self, now: float) -> list[str]:
        """Devices to ask now; each is then not due again for twice its previous wait."""
        ready = sorted(device_id for device_id, gap in self._open.items() if gap.due_at <= now)
        for device_id in ready:
            gap = self._open[device_id]
            gap.interval_s = min(gap.interval_s * 2, self._max_interval_s)
            gap.due_at = now + gap.interval_s
        return ready

    def forget(self, device_ids: Iterable[str]) -> None:
        """Stop asking these devices (taken out of the keys file: whatever they replay is rejected)."""
        for device_id in device_ids:
            self._open.pop(device_id, None)

    @property
    def open_gaps(self) -> int:
        return len(self._open)


class ProgressFeed:
    """The devices whose progress the scheduler has yet to see: every device at first, then those
    each stored batch touched, until a read of them succeeds."""

    def __init__(self, scheduler: ReplayScheduler) -> None:
        self._scheduler = scheduler
        self._everything = True
        self._devices: set[str] = set()

    def read_all(self) -> None:
        """Read every device again next time (the keys changed: a device added may have gaps)."""
        self._everything = True

    def touched(self, device_ids: Iterable[str]) -> None:
        self._devices.update(device_ids)

    def feed(self, read: Callable[[Collection[str] | None], list[DeviceProgress]], now: float) -> None:
        """``read(devices)`` (None: every device) into the scheduler; what it raises is the caller's,
        and the devices stay to be read next time."""
        if not self._everything and not self._devices:
            return
        devices = None if self._everything else frozenset(self._devices)
        self._scheduler.observe(read(devices), now)
        self._everything = False
        if devices is None:
            self._devices.clear()
        else:
            self._devices -= devices
