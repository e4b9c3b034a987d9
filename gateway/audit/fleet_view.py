"""What the fleet API and page say about the store's fleet state: each device as JSON with its
problems, a summary, and the fleet's Prometheus gauges. Pure functions of ``DeviceState`` rows.

A device's problems, in the order the page shows them: no signing key here, offline, never heard
from, alerts missing (gaps), evidence images missing, rejected messages (a wrong key, a broken
chain, a tampered alert: each kept in ``audit_rejected`` with its reason), behind (its most
recently stored alert took more than ``LAG_WARNING_S`` to arrive) and a clock off the audit's by
more than ``CLOCK_WARNING_S``: measured from its ``online`` status, or seen in an alert time further
ahead of its arrival than that, the measured offset taken out (a delivery delay below
``-CLOCK_WARNING_S``: no alert arrives before it is raised, so the device's clock ran ahead).

Behind is judged on the delivery delay, not on the lag: the lag (arrival minus alert time) is
measured across two clocks, so a device whose clock is five minutes slow showed a lag of five
minutes with every alert delivered at once, and one whose clock is fast never showed any. The
device's clock offset, measured from its live ``online`` status (``gateway.audit.fleet``), is taken
out; until it is measured (no live ``online`` seen since the device last connected), the lag is all
there is, and the problem says it may be the clock.

The gauges describe the fleet as a whole, with no per-device label, so their number stays the same
for ten devices or ten thousand: devices by state, devices with problems, with gaps and behind,
missing alerts and images, rejected messages, and the largest lag. Every instance reads them from
the one store, so any instance may be scraped; per-instance counters (messages by outcome, the lag
histogram of what this instance stored) come from the subscriber's registry beside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.audit.fleet import DeviceState
from gateway.protocol.alerts import format_timestamp
from gateway.wording import counted

LAG_WARNING_S = 60.0
CLOCK_WARNING_S = 10.0
"""A clock further off than this makes alert times (``frame_ts``) misleading as evidence."""


def with_keyed(states: Sequence[DeviceState], keyed: Iterable[str]) -> list[DeviceState]:
    """The store's devices plus those with a key that the store has never heard from; without the
    rows a status message alone made for a device with no key (stores kept them before such a
    status was refused: a fleet row for any name anyone on the broker published a status under)."""
    keyed = frozenset(keyed)
    states = [
        state
        for state in states
        if state.device_id in keyed or state.last_seq or state.alerts_stored or state.rejected
    ]
    known = {state.device_id for state in states}
    silent = [
        DeviceState(device_id, None, None, None, 0, 0, 0, None, None, None, 0, 0, None, None)
        for device_id in keyed
        if device_id not in known
    ]
    return sorted([*states, *silent], key=lambda state: state.device_id)


def state_of(device: DeviceState) -> str:
    return device.status or "unknown"


def problems(device: DeviceState, keyed: bool) -> list[str]:
    found = []
    if not keyed:
        found.append("no signing key for this device here: its alerts are rejected")
    if device.status == "offline":
        found.append("offline")
    if device.status is None and device.alerts_stored == 0 and device.rejected == 0:
        found.append("never heard from")
    if device.missing_alerts > 0:
        found.append(f"{counted(device.missing_alerts, 'alert')} missing (gaps; asked for again)")
    if device.evidence_missing > 0:
        found.append(f"{counted(device.evidence_missing, 'evidence image')} missing")
    if device.rejected > 0:
        last = f" (last: {device.last_rejection})" if device.last_rejection is not None else ""
        found.append(f"{counted(device.rejected, 'message')} rejected{last}")
    delay = device.delivery_delay_s
    if delay is not None and delay > LAG_WARNING_S:
        if device.clock_offset_s is None:
            # Lag alone: a clock that slow reads the same (``clock_offset_s`` null says it is
            # not measured yet; the device page says so in words).
            found.append(f"behind: its last alert was stored {delay:.0f} s after its alert time")
        else:
            found.append(f"behind: its last alert took {delay:.0f} s to arrive")
    skew = skewed_offset_s(device)
    if skew is not None:
        side = "behind" if skew < 0 else "ahead of"
        found.append(
            f"clock skew: its clock is {abs(skew):.0f} s {side} the audit's, "
            "so its alert times are off by as much"
        )
    ahead = alert_time_ahead_s(device)
    # A fast clock not measured yet shows only here: its delay was shown negative, as no problem.
    if ahead is not None and device.clock_offset_s is None:
        found.append(
            f"clock skew: its last alert's time is {ahead:.0f} s ahead of its arrival, "
            "so its clock is at least as far ahead of the audit's"
        )
    elif ahead is not None:
        found.append(
            f"clock skew: its last alert's time is {ahead:.0f} s ahead of its arrival with its measured "
            "clock offset taken out, so its alert times are off by at least as much"
        )
    return found


def skewed_offset_s(device: DeviceState) -> float | None:
    """The device's measured clock offset when it is over ``CLOCK_WARNING_S``; else None."""
    offset = device.clock_offset_s
    return offset if offset is not None and abs(offset) > CLOCK_WARNING_S else None


def alert_time_ahead_s(device: DeviceState) -> float | None:
    """How far the alert time of the device's most recently stored alert is ahead of its arrival,
    its measured clock offset taken out, when that is over ``CLOCK_WARNING_S``; else None."""
    delay = device.delivery_delay_s
    return -delay if delay is not None and delay < -CLOCK_WARNING_S else None


def _time(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else format_timestamp(epoch_s)


def device_json(device: DeviceState, keys: int) -> dict[str, Any]:
    """``keys``: how many signing keys the keys file lists for the device (0: none)."""
    keyed = keys > 0
    return {
        "device_id": device.device_id,
        "state": state_of(device),
        "state_ts": device.status_ts,
        "state_received_at": _time(device.status_received_at),
        "last_seq": device.last_seq,
        "contiguous_seq": device.contiguous_seq,
        "alerts_stored": device.alerts_stored,
        "missing_alerts": device.missing_alerts,
        "gaps": [list(gap) for gap in device.gaps],
        "last_alert_at": _time(device.last_alert_at),
        "last_stored_at": _time(device.last_stored_at),
        "lag_s": _rounded(device.lag_s),
        "clock_offset_s": _rounded(device.clock_offset_s),
        "delivery_delay_s": _rounded(device.delivery_delay_s),
        "evidence_missing": device.evidence_missing,
        "rejected": device.rejected,
        "last_rejection": (
            None
            if device.last_rejection is None
            else {"reason": device.last_rejection, "at": _time(device.last_rejected_at)}
        ),
        "key_known": keyed,
        "keys": keys,
        "problems": problems(device, keyed),
    }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def summary(devices: Sequence[DeviceState], keyed: frozenset[str]) -> dict[str, Any]:
    lags = [device.lag_s for device in devices if device.lag_s is not None]
    delays = [device.delivery_delay_s for device in devices if device.delivery_delay_s is not None]
    return {
        "devices": len(devices),
        "online": sum(1 for device in devices if device.status == "online"),
        "offline": sum(1 for device in devices if device.status == "offline"),
        "unknown": sum(1 for device in devices if device.status is None),
        "with_problems": sum(1 for device in devices if problems(device, device.device_id in keyed)),
        "with_gaps": sum(1 for device in devices if device.missing_alerts > 0),
        "missing_alerts": sum(device.missing_alerts for device in devices),
        "evidence_missing": sum(device.evidence_missing for device in devices),
        "rejected": sum(device.rejected for device in devices),
        "behind": sum(1 for delay in delays if delay > LAG_WARNING_S),
        "clock_skewed": sum(
            1
            for device in devices
            if skewed_offset_s(device) is not None or alert_time_ahead_s(device) is not None
        ),
        "max_lag_s": round(max(lags), 3) if lags else None,
        "max_delivery_delay_s": round(max(delays), 3) if delays else None,
    }


class _FleetCollector(Collector):
    def __init__(self, figures: dict[str, Any]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self._figures
        devices = GaugeMetricFamily(
            "edge_gateway_fleet_devices", "Devices by state from their status topic.", labels=["state"]
        )
        for state in ("online", "offline", "unknown"):
            devices.add_metric([state], figures[state])
        yield devices
        for name, key, text in (
            ("devices_with_problems", "with_problems", "Devices with any problem the fleet page shows."),
            ("devices_with_gaps", "with_gaps", "Devices with alerts missing below their last seq."),
            ("missing_alerts", "missing_alerts", "Alerts missing below each device's last seq, summed."),
            ("evidence_missing", "evidence_missing", "Stored alerts whose evidence image has not arrived."),
            (
                "rejected_messages",
                "rejected",
                "Rejected messages attributed to a device (those the store's bounds dropped included).",
            ),
            (
                "devices_behind",
                "behind",
                f"Devices whose last alert took over {LAG_WARNING_S:.0f} s to arrive, clock offset out.",
            ),
            (
                "devices_clock_skewed",
                "clock_skewed",
                f"Devices whose clock is over {CLOCK_WARNING_S:.0f} s off the audit's, or whose last alert's "
                "time is that far ahead of its arrival.",
            ),
        ):
            yield GaugeMetricFamily(f"edge_gateway_fleet_{name}", text, value=figures[key])
        yield GaugeMetricFamily(
            "edge_gateway_fleet_max_lag_seconds",
            "The largest lag (arrival minus alert time) of any device's most recently stored alert.",
            value=figures["max_lag_s"] or 0.0,
        )
        yield GaugeMetricFamily(
            "edge_gateway_fleet_max_delivery_delay_seconds",
            "The longest delivery of any device's most recently stored alert, its clock offset taken out.",
            value=figures["max_delivery_delay_s"] or 0.0,
        )


def fleet_registry(figures: dict[str, Any]) -> CollectorRegistry:
    """A registry holding the fleet gauges of one ``summary``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FleetCollector(figures))
    return registry
