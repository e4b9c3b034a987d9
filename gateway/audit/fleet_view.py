"""What the fleet API and page say about the store's fleet state: each device as JSON with its
problems, a summary, and the fleet's Prometheus gauges. Pure functions of ``DeviceState`` rows.

A device's problems, in the order the page shows them: no signing key here, offline, never heard
from, alerts missing (gaps), evidence images missing, rejected messages (a wrong key, a broken
chain, a tampered alert: each kept in ``audit_rejected`` with its reason), and behind (its most
recently stored alert arrived more than ``LAG_WARNING_S`` after its alert time).

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

LAG_WARNING_S = 60.0


def with_keyed(states: Sequence[DeviceState], keyed: Iterable[str]) -> list[DeviceState]:
    """The store's devices plus those with a key that the store has never heard from."""
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
        found.append(f"{device.missing_alerts} alerts missing (gaps; asked for again)")
    if device.evidence_missing > 0:
        found.append(f"{device.evidence_missing} evidence images missing")
    if device.rejected > 0:
        found.append(f"{device.rejected} messages rejected (last: {device.last_rejection})")
    if device.lag_s is not None and device.lag_s > LAG_WARNING_S:
        found.append(f"behind: its last alert was stored {device.lag_s:.0f} s after its alert time")
    return found


def _time(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else format_timestamp(epoch_s)


def device_json(device: DeviceState, keyed: bool) -> dict[str, Any]:
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
        "lag_s": None if device.lag_s is None else round(device.lag_s, 3),
        "evidence_missing": device.evidence_missing,
        "rejected": device.rejected,
        "last_rejection": (
            None
            if device.last_rejection is None
            else {"reason": device.last_rejection, "at": _time(device.last_rejected_at)}
        ),
        "key_known": keyed,
        "problems": problems(device, keyed),
    }


def summary(devices: Sequence[DeviceState], keyed: frozenset[str]) -> dict[str, Any]:
    lags = [device.lag_s for device in devices if device.lag_s is not None]
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
        "behind": sum(1 for lag in lags if lag > LAG_WARNING_S),
        "max_lag_s": round(max(lags), 3) if lags else None,
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
            ("rejected_messages", "rejected", "Rejected messages attributed to a device, in the store."),
            (
                "devices_behind",
                "behind",
                f"Devices whose last alert was stored over {LAG_WARNING_S:.0f} s late.",
            ),
        ):
            yield GaugeMetricFamily(f"edge_gateway_fleet_{name}", text, value=figures[key])
        yield GaugeMetricFamily(
            "edge_gateway_fleet_max_lag_seconds",
            "The largest lag (arrival minus alert time) of any device's most recently stored alert.",
            value=figures["max_lag_s"] or 0.0,
        )


def fleet_registry(figures: dict[str, Any]) -> CollectorRegistry:
    """A registry holding the fleet gauges of one ``summary``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FleetCollector(figures))
    return registry
