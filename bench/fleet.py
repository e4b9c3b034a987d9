"""A fleet end to end: N simulated gateways -> one mosquitto -> M ``audit serve`` instances in one
``$share`` group -> one real PostgreSQL, with faults, measured.

    .venv/bin/python -m bench.fleet            # M = 1, 2, 3 at N = 50 and N = 200 (about 25 minutes)
    .venv/bin/python -m bench.fleet --quick    # M = 1, 2 at N = 50, short phases (about 4 minutes)

Every part is a real process: PostgreSQL 15 with its default durability (each commit flushed),
mosquitto with persistence, ``edge-gateway audit serve`` per instance, and the devices, each running
the gateway's real Outbox and MqttPublisher (``tests.support.fleet_devices``; ``synchronous=normal``:
200 devices' fsyncs on one disk are not what a fleet has) with synthetic alerts in events of three,
each start carrying a JPEG (``--evidence``, default 1280x720 quality 85, about 100 kB). Simulating
200 devices in one Python process would make that process the bottleneck, so the devices are spread
over processes of ``--devices-per-process`` (25) each.

Each (M, N) run has two phases on the same devices and store:

1. Capacity: every device commits ``--burst`` alerts as fast as its outbox takes them; stored
   alerts/s is the count over the time from the first commit to the last alert in PostgreSQL.
   CPU per stored alert is taken per process (audit instances, mosquitto, PostgreSQL with its
   backends, device processes) over this phase, and one audit instance's threads are sampled with
   py-spy for ``--profile-s``: where its time goes is what limits the rate when it is the busiest.
2. Faults at a set rate (``--rate`` alerts/s per device, below capacity): one device goes offline
   for ``--offline-s`` (its publisher stops; it goes on committing), one audit instance is killed
   with SIGKILL and started again ``--down-s`` later, and the broker is restarted. Lag (arrival at an
   audit instance minus the alert's own time) is reported over this phase's alerts: p50, p99, max,
   and p99 without the device that was offline.

After both: every alert of every device must be in PostgreSQL exactly once (by device and seq,
1 to the device's last seq), no message rejected, and ``edge-gateway audit verify`` must exit 0, or the
run fails. PostgreSQL bytes per alert and per evidence image are measured from the table sizes.
Results go to bench/results/fleet.json and .md (``--quick``: fleet-quick.*), with the load average
before and after each run: on a shared machine the rates are a floor, CPU per alert is steadier.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.fleet_report import lag_figures, profile_summary, render_markdown, size_figures
from tests.support.fleet import ROOT, AuditInstance, DeviceGroup, process_cpu_s, write_keys
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import PostgresServer

RESULTS = ROOT / "bench" / "results"
WAIT_S = 900.0


def children_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its live children (PostgreSQL's postmaster and backends)."""
    total = process_cpu_s(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    total += process_cpu_s(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return total


class Run:
    """One (M, N) run: the processes and the measurements taken on them."""

    def __init__(self, root: Path, arguments: argparse.Namespace, instances: int, devices: int) -> None:
        self.root = root
        self.arguments = arguments
        self.device_ids = [f"box-{number:03d}" for number in range(devices)]
        self.keys_file = root / "keys.json"
        write_keys(root / "devices", self.device_ids, self.keys_file)
        self.instance_count = instances

    def groups(self, broker: str, *options: str) -> list[DeviceGroup]:
        size = self.arguments.devices_per_process
        self.running = [
            DeviceGroup(self.root / "devices", broker, self.device_ids[start : start + size], *options)
            for start in range(0, len(self.device_ids), size)
        ]
        return self.running

    def kill_groups(self) -> None:
        """After a failure: no device process outlives the run."""
        for group in getattr(self, "running", []):
            group.kill()
            group.stop()

    def count(self, database: str) -> int:
        with psycopg.connect(database) as connection:
            row = connection.execute("SELECT COUNT(*) FROM audit_alerts").fetchone()
        return int(row[0]) if row else 0

    def wait_stored(self, database: str, expected: int) -> float:
        deadline = time.monotonic() + WAIT_S
        while self.count(database) < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.count(database)} of {expected} alerts stored")
            time.sleep(0.25)
        return time.monotonic()

    def execute(self) -> dict[str, Any]:
        arguments = self.arguments
        load_before = os.getloadavg()
        with PostgresServer(durable=True) as postgres, Mosquitto(self.root / "broker") as broker:
            database = postgres.create_database()
            audits = [
                AuditInstance(
                    self.root, str(number), broker=broker.url, database=database, keys_file=self.keys_file
                )
                for number in range(1, self.instance_count + 1)
            ]
            for audit in audits:
                audit.start()
            try:
                capacity = self._capacity(audits, broker, postgres, database)
                faults = self._faults(audits, broker, database, capacity["alerts"])
            except BaseException:
                self.kill_groups()
                raise
            finally:
                for audit in audits:
                    audit.stop()
            checks = self._check(database)
            sizes = size_figures(database)
        return {
            "instances": self.instance_count,
            "devices": len(self.device_ids),
            "device_processes": len(range(0, len(self.device_ids), arguments.devices_per_process)),
            "capacity": capacity,
            "faults": faults,
            "checks": checks,
            "postgres_bytes": sizes,
            "load_average_before": [round(value, 2) for value in load_before],
            "load_average_after": [round(value, 2) for value in os.getloadavg()],
        }

    def _capacity(
        self, audits: list[AuditInstance], broker: Mosquitto, postgres: PostgresServer, database: str
    ) -> dict[str, Any]:
        arguments = self.arguments
        expected = arguments.burst * len(self.device_ids)
        groups = self.groups(broker.url, "--alerts", str(arguments.burst), "--rate", "100000",
                             "--evidence", arguments.evidence)  # fmt: skip
        for group in groups:
            group.wait_for("ready", WAIT_S)
        pids = {
            **{f"audit-{audit.name}": audit.pid for audit in audits},
            "mosquitto": broker.pid or 0,
            "devices": 0,
        }
        # Each group starts committing as soon as it says ready.
        started = min(group.seen_at["ready"] for group in groups)
        before = self._cpu(pids, postgres, groups)
        profile = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(audits[0].pid),
             "--duration", str(arguments.profile_s), "--format", "raw", "--nonblocking",
             "--output", str(self.root / "profile.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        stored_at = self.wait_stored(database, expected)
        after = self._cpu(pids, postgres, groups)
        profile.wait(arguments.profile_s + 60)
        for group in groups:
            group.drained(WAIT_S)
            group.stop()
        seconds = stored_at - started
        return {
            "alerts": expected,
            "seconds": round(seconds, 2),
            "stored_per_s": round(expected / seconds, 1),
            "cpu_us_per_stored_alert": {
                name: round((after[name] - before[name]) / expected * 1e6, 1) for name in before
            },
            "cpu_share_of_one_core": {
                name: round((after[name] - before[name]) / seconds, 2) for name in before
            },
            "profile_audit_1": profile_summary(self.root / "profile.txt"),
        }

    def _cpu(
        self, pids: dict[str, int], postgres: PostgresServer, groups: list[DeviceGroup]
    ) -> dict[str, float]:
        figures = {name: process_cpu_s(pid) for name, pid in pids.items() if name != "devices"}
        figures["postgres"] = children_cpu_s(postgres.pid or 0)
        figures["devices"] = sum(process_cpu_s(group.process.pid) for group in groups)
        return figures

    def _faults(
        self, audits: list[AuditInstance], broker: Mosquitto, database: str, before: int
    ) -> dict[str, Any]:
        arguments = self.arguments
        seconds = arguments.phase_s
        alerts = int(seconds * arguments.rate)
        offline_at = seconds * 0.1
        offline = f"{self.device_ids[0]}:{offline_at}:{arguments.offline_s}"
        groups = self.groups(broker.url, "--alerts", str(alerts), "--rate", str(arguments.rate),
                             "--evidence", arguments.evidence, "--offline", offline)  # fmt: skip
        for group in groups:
            group.wait_for("ready", WAIT_S)
        started = time.monotonic()
        events = []

        def at(fraction: float) -> None:
            time.sleep(max(0.0, started + seconds * fraction - time.monotonic()))

        at(0.3)
        audits[-1].kill()
        events.append(f"{time.monotonic() - started:.1f} s: audit-{audits[-1].name} killed (SIGKILL)")
        time.sleep(arguments.down_s)
        audits[-1].start()
        events.append(f"{time.monotonic() - started:.1f} s: audit-{audits[-1].name} started again")
        at(0.55)
        broker.restart()
        events.append(f"{time.monotonic() - started:.1f} s: broker restarted")
        last_seqs: dict[str, int] = {}
        for group in groups:
            last_seqs.update(group.drained(WAIT_S))
        total = sum(last_seqs.values())
        stored_at = self.wait_stored(database, total)
        for group in groups:
            group.stop()
        self.last_seqs = last_seqs
        return {
            "rate_per_device": arguments.rate,
            "offered_per_s": round(arguments.rate * len(self.device_ids), 1),
            "alerts": total - before,
            "seconds_to_all_stored": round(stored_at - started, 2),
            "events": events,
            "offline_device": f"{self.device_ids[0]} for {arguments.offline_s:.0f} s from {offline_at:.1f} s",
            "lag_s": lag_figures(
                database, before_per_device=arguments.burst, offline_device=self.device_ids[0]
            ),
        }

    def _check(self, database: str) -> dict[str, Any]:
        with psycopg.connect(database) as connection:
            rows = connection.execute(
                "SELECT device_id, COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM audit_alerts "
                "GROUP BY device_id"
            ).fetchall()
            rejected = connection.execute("SELECT COUNT(*) FROM audit_rejected").fetchone()
        found = {str(row[0]): tuple(int(value) for value in row[1:]) for row in rows}
        exact = all(found.get(device) == (last, last, 1, last) for device, last in self.last_seqs.items())
        verify = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway",
                "audit",
                "verify",
                "--db",
                database,
                "--keys",
                str(self.keys_file),
            ],
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        result = {
            "every_alert_stored_exactly_once": exact and len(found) == len(self.last_seqs),
            "rejected": int(rejected[0]) if rejected else -1,
            "audit_verify_exit": verify.returncode,
        }
        if not result["every_alert_stored_exactly_once"] or result["rejected"] or verify.returncode:
            raise RuntimeError(f"fleet run failed its checks: {result}\n{verify.stdout.decode()[-3000:]}")
        return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="M = 1, 2 at N = 50 with short phases")
    parser.add_argument("--instances", type=int, nargs="+", help="M values (default 1 2 3; quick: 1 2)")
    parser.add_argument("--devices", type=int, nargs="+", help="N values (default 50 200; quick: 50)")
    parser.add_argument("--devices-per-process", type=int, default=25)
    parser.add_argument("--burst", type=int, help="capacity phase: alerts per device (default 60; quick 30)")
    parser.add_argument("--rate", type=float, default=1.0, help="fault phase: alerts/s per device")
    parser.add_argument("--phase-s", type=float, help="fault phase length (default 100; quick 30)")
    parser.add_argument("--offline-s", type=float, help="one device offline this long (default 60; quick 10)")
    parser.add_argument("--down-s", type=float, default=5.0, help="killed audit instance down this long")
    parser.add_argument("--evidence", default="1280x720", help="WIDTHxHEIGHT of each start's JPEG")
    parser.add_argument("--profile-s", type=int, default=10, help="py-spy sampling of audit-1")
    arguments = parser.parse_args(argv)
    quick = arguments.quick
    arguments.instances = arguments.instances or ([1, 2] if quick else [1, 2, 3])
    arguments.devices = arguments.devices or ([50] if quick else [50, 200])
    arguments.burst = arguments.burst or (30 if quick else 60)
    arguments.phase_s = arguments.phase_s or (30.0 if quick else 100.0)
    arguments.offline_s = arguments.offline_s or (10.0 if quick else 60.0)
    rows = []
    for devices in arguments.devices:
        for instances in arguments.instances:
            with tempfile.TemporaryDirectory(prefix="bench-fleet-") as scratch:
                print(f"fleet: M={instances} N={devices} ...", file=sys.stderr, flush=True)
                rows.append(Run(Path(scratch), arguments, instances, devices).execute())
                print(json.dumps(rows[-1]["capacity"]["stored_per_s"]), file=sys.stderr, flush=True)
    result = {
        "benchmark": "fleet: N simulated gateways -> mosquitto -> M audit serve ($share) -> PostgreSQL",
        "command": "python -m bench.fleet " + " ".join(argv),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "settings": {key: value for key, value in vars(arguments).items() if key != "quick"},
        "rows": rows,
    }
    name = "fleet-quick" if quick else "fleet"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    markdown = render_markdown(result)
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
