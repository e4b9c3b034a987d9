"""What the audit store's alert-time index (schema version 8, ``audit_alerts_alert_at`` on
(device_id, seq, alert_at)) buys and costs.

    .venv/bin/python -m bench.audit_time_index [--alerts 500000] [--rounds 3]

1. Reading by time, on SQLite: one device with ``--alerts`` stored alerts a second apart (rows of
   the store's own schema, written by SQL: a signed chain of that length would take minutes to make
   and is not what is measured), read with ``gateway.audit.fleet.read_alerts`` as
   ``GET /v1/devices/{id}/alerts?since=&until=`` reads them, with its ``alerts_after`` (whether a
   next page exists): the first page of the last hour (``since`` only), of an hour in the middle
   (both bounds: the next-page check reads on to the device's last alert) and of the first hour
   (``until`` only). Each is timed ``--rounds`` times with the index, then with the index dropped
   (SQLite then scans the primary key and reads each row), median reported.
2. Writing, on a real PostgreSQL with its default durability: 5 devices' real signed alerts
   (``tests.support.audit_device.AlertChain``) stored through ``AuditStore.ingest`` in batches of
   256, into a fresh database with the index and one with it dropped, alternating, ``--rounds``
   times: microseconds per stored alert (median) and the index's bytes per alert.

Results: bench/results/audit-time-index.json and .md, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from gateway.audit.database import Database, open_database
from gateway.audit.fleet import alerts_after, read_alerts
from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
INDEX = "audit_alerts_alert_at"
FIRST_ALERT_AT = 1_780_000_000.0
DEVICE = "box-1"
PAGE = 50
KEY = bytes(range(32))
WRITE_DEVICES = 5
WRITE_ALERTS = 4000
BATCH = 256


def median_ms(read: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        read()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def page_read(database: Database, since: float | None, until: float | None) -> Callable[[], object]:
    """A page from the device's first alert within the bounds, and whether a next one exists."""

    def read() -> object:
        entries = read_alerts(database, DEVICE, 1, PAGE, since=since, until=until)
        return entries and alerts_after(database, DEVICE, entries[-1].seq, since=since, until=until)

    return read


def reading(alerts: int, rounds: int) -> list[dict[str, Any]]:
    hour = 3600.0
    middle = FIRST_ALERT_AT + alerts / 2
    queries = {
        "first page of the last hour (since)": (FIRST_ALERT_AT + alerts - hour, None),
        "first page of an hour in the middle (since, until)": (middle, middle + hour),
        "first page of the first hour (until)": (None, FIRST_ALERT_AT + hour),
    }
    payload = b"x" * 650  # about a signed alert's size
    with tempfile.TemporaryDirectory() as directory:
        database = open_database(f"sqlite:///{directory}/audit.db")
        with database.transaction():
            database.execute_many(
                "INSERT INTO audit_alerts (device_id, seq, hash, prev_hash, payload, received_at, alert_at) "
                "VALUES (?, ?, 'h', 'p', ?, ?, ?)",
                [
                    (DEVICE, seq, payload, FIRST_ALERT_AT + seq, FIRST_ALERT_AT + seq)
                    for seq in range(1, alerts + 1)
                ],
            )
        rows: list[dict[str, Any]] = []
        for name, (since, until) in queries.items():
            rows.append({"read": name, "with_index_ms": median_ms(page_read(database, since, until), rounds)})
        database.execute(f"DROP INDEX {INDEX}")
        for row, (since, until) in zip(rows, queries.values(), strict=True):
            row["without_index_ms"] = median_ms(page_read(database, since, until), rounds)
        database.close()
    return rows


def writing(rounds: int) -> dict[str, Any]:
    chains = [AlertChain(f"box-{number}", KEY) for number in range(WRITE_DEVICES)]
    for chain in chains:
        chain.extend(WRITE_ALERTS)
    keys = {chain.device_id: KEY for chain in chains}
    messages = [
        ReceivedMessage(chain.topic, payload, FIRST_ALERT_AT)
        for chain in chains
        for payload in chain.payloads
    ]
    micros: dict[bool, list[float]] = {True: [], False: []}
    index_bytes = 0
    with PostgresServer(durable=True) as server:
        for _ in range(rounds):
            for with_index in (True, False):
                url = server.create_database()
                store = AuditStore.open(url, keys)
                if not with_index:
                    with psycopg.connect(url, autocommit=True) as connection:
                        connection.execute(f"DROP INDEX {INDEX}")
                start = time.perf_counter()
                for first in range(0, len(messages), BATCH):
                    store.ingest(messages[first : first + BATCH])
                micros[with_index].append((time.perf_counter() - start) / len(messages) * 1e6)
                store.close()
                if with_index:
                    with psycopg.connect(url, autocommit=True) as connection:
                        row = connection.execute(f"SELECT pg_relation_size('{INDEX}')").fetchone()
                        index_bytes = int(row[0]) if row else 0
    return {
        "alerts": len(messages),
        "devices": WRITE_DEVICES,
        "batch": BATCH,
        "us_per_alert_with_index": round(statistics.median(micros[True])),
        "us_per_alert_without_index": round(statistics.median(micros[False])),
        "us_per_alert_each_round": {
            "with": [round(value) for value in micros[True]],
            "without": [round(value) for value in micros[False]],
        },
        "index_bytes_per_alert": round(index_bytes / len(messages), 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--alerts", type=int, default=500_000, help="stored alerts of the device read (SQLite)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args(argv)
    load_before = os.getloadavg()
    reads = reading(arguments.alerts, arguments.rounds)
    writes = writing(arguments.rounds)
    load_after = os.getloadavg()
    command = ("python -m bench.audit_time_index " + " ".join(argv)).strip()
    result = {
        "benchmark": "the audit store's alert-time index: reads by time (SQLite), writes (PostgreSQL)",
        "command": command,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in load_after],
        "reads": {"alerts": arguments.alerts, "page": PAGE, "rows": reads},
        "writes": writes,
    }
    arguments.output.mkdir(parents=True, exist_ok=True)
    (arguments.output / "audit-time-index.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"The audit store's alert-time index. Command: `{command}`. {platform.machine()}, {os.cpu_count()} "
        f"cores; load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        "",
        f"Reads of a page of {PAGE} by time, one device with {arguments.alerts:,} alerts (SQLite), median of "
        f"{arguments.rounds}:",
        "",
        "| read | with the index ms | without ms |",
        "|---|---|---|",
        *(f"| {row['read']} | {row['with_index_ms']} | {row['without_index_ms']} |" for row in reads),
        "",
        f"Writes through `AuditStore.ingest` (PostgreSQL, durable), {writes['alerts']:,} signed alerts of "
        f"{writes['devices']} devices in batches of {writes['batch']}, median of {arguments.rounds}: "
        f"{writes['us_per_alert_with_index']} us per alert with the index, "
        f"{writes['us_per_alert_without_index']} without (each round: {writes['us_per_alert_each_round']}); "
        f"the index holds {writes['index_bytes_per_alert']} bytes per alert.",
    ]
    (arguments.output / "audit-time-index.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
