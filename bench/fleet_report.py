"""Figures for bench/fleet.py from what the run left behind: lag from the stored alerts, bytes from
PostgreSQL's table sizes, where an audit instance's time went from py-spy's samples, and the
markdown table."""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path
from typing import Any

import psycopg

from gateway.protocol.alerts import parse_timestamp

TOP_FUNCTIONS = 10


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def lag_figures(database: str, *, before_per_device: int, offline_device: str) -> dict[str, Any]:
    """Arrival minus alert time of the fault phase's alerts (seq above the capacity phase's)."""
    with psycopg.connect(database) as connection:
        rows = connection.execute(
            "SELECT device_id, received_at, payload FROM audit_alerts WHERE seq > %s", (before_per_device,)
        ).fetchall()
    lags = [(str(device), float(received) - parse_timestamp(json.loads(bytes(payload))["frame_ts"]))
            for device, received, payload in rows]  # fmt: skip
    values = [lag for _, lag in lags]
    others = [lag for device, lag in lags if device != offline_device]
    return {
        "p50": round(percentile(values, 0.50), 3),
        "p99": round(percentile(values, 0.99), 3),
        "max": round(max(values), 3),
        "p99_without_offline_device": round(percentile(others, 0.99), 3),
        "max_of_offline_device": round(max(lag for device, lag in lags if device == offline_device), 3),
    }


def size_figures(database: str) -> dict[str, Any]:
    """Bytes per stored alert and per evidence image, indexes and TOAST included."""
    with psycopg.connect(database) as connection:
        row = connection.execute(
            "SELECT pg_total_relation_size('audit_alerts'), (SELECT COUNT(*) FROM audit_alerts), "
            "pg_total_relation_size('audit_evidence'), (SELECT COUNT(*) FROM audit_evidence), "
            "(SELECT COALESCE(SUM(LENGTH(data)), 0) FROM audit_evidence), "
            "(SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM audit_alerts)"
        ).fetchone()
    assert row is not None
    alerts_bytes, alerts, evidence_bytes, images, image_data, payload_data = (int(value) for value in row)
    per_alert = alerts_bytes / max(1, alerts)
    per_image = evidence_bytes / max(1, images)
    share = images / max(1, alerts)
    return {
        "alerts": alerts,
        "alert_bytes_total": alerts_bytes,
        "bytes_per_alert": round(per_alert),
        "payload_bytes_per_alert": round(payload_data / max(1, alerts)),
        "images": images,
        "evidence_bytes_total": evidence_bytes,
        "bytes_per_image": round(per_image),
        "jpeg_bytes_per_image": round(image_data / max(1, images)),
        "images_per_alert": round(share, 3),
        "gb_per_million_alerts_without_images": round(per_alert * 1e6 / 1e9, 2),
        "gb_per_million_alerts_with_this_image_share": round((per_alert + share * per_image) * 1e6 / 1e9, 2),
    }


def profile_summary(path: Path) -> dict[str, Any]:
    """py-spy's collapsed stacks (``--format raw``): the functions with the most samples on top of
    the stack (self) and anywhere in it (inclusive), as shares of all active samples."""
    if not path.exists():
        return {"samples": 0, "note": "no profile (py-spy could not attach)"}
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame.strip() for frame in stack.split(";") if frame.strip()]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return {"samples": 0}

    def share(counter: collections.Counter[str]) -> list[list[Any]]:
        return [[frame, round(count / total, 3)] for frame, count in counter.most_common(TOP_FUNCTIONS)]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}


def render_markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        "Fleet benchmark: N simulated gateways (real outbox + MQTT publisher) -> mosquitto -> M `audit serve`"
        f" in one $share group -> PostgreSQL (durable). Command: `{result['command']}`. "
        f"Machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}.",
        "",
        "| N | M | stored/s (capacity) | lag p50 s | lag p99 s | p99 w/o offline device | "
        "CPU us/alert audit (sum) | mosquitto | postgres | devices | exactly once | verify "
        "| load before -> after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        capacity, lag, cpu = (
            row["capacity"],
            row["faults"]["lag_s"],
            row["capacity"]["cpu_us_per_stored_alert"],
        )
        audit = sum(value for name, value in cpu.items() if name.startswith("audit-"))
        lines.append(
            f"| {row['devices']} | {row['instances']} | {capacity['stored_per_s']:,.0f} | {lag['p50']} | "
            f"{lag['p99']} | {lag['p99_without_offline_device']} | {audit:,.0f} | {cpu['mosquitto']:,.0f} | "
            f"{cpu['postgres']:,.0f} | {cpu['devices']:,.0f} | "
            f"{'yes' if row['checks']['every_alert_stored_exactly_once'] else 'NO'} | "
            f"{row['checks']['audit_verify_exit']} | "
            f"{row['load_average_before'][0]} -> {row['load_average_after'][0]} |"
        )
    lines += ["", "CPU share of one core during the capacity phase (1.0 = one core busy):", ""]
    for row in rows:
        shares = ", ".join(
            f"{name} {value}" for name, value in row["capacity"]["cpu_share_of_one_core"].items()
        )
        lines.append(f"- N={row['devices']} M={row['instances']}: {shares}")
    lines += [
        "",
        "Where audit-1's active time went (py-spy, top functions by samples on top of the stack):",
        "",
    ]
    for row in rows:
        profile = row["capacity"]["profile_audit_1"]
        top = "; ".join(f"{frame} {share:.0%}" for frame, share in profile.get("self", [])[:6])
        lines.append(
            f"- N={row['devices']} M={row['instances']} ({profile.get('samples', 0)} samples): {top}"
        )
    sizes = rows[-1]["postgres_bytes"]
    lines += [
        "",
        f"PostgreSQL bytes (last run, indexes and TOAST included): {sizes['bytes_per_alert']} per alert "
        f"({sizes['payload_bytes_per_alert']} of it the signed payload), "
        f"{sizes['bytes_per_image']} per evidence image ({sizes['jpeg_bytes_per_image']} of JPEG); "
        "per million alerts: "
        f"{sizes['gb_per_million_alerts_without_images']} GB without images, "
        f"{sizes['gb_per_million_alerts_with_this_image_share']} GB with an image on "
        f"{sizes['images_per_alert']:.0%} of them.",
        "",
    ]
    return "\n".join(lines) + "\n"
