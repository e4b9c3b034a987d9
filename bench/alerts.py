"""Alerts/s from the gateway's own decider path to a real mosquitto at QoS 1 and into the audit store.

    .venv/bin/python -m bench.alerts [--alerts 20000] [--cameras 8] [--rules 4] [--window 64]
        [--synchronous full normal] [--protocol 5 3.1.1] [--max-inflight 64]

Per run: a fresh mosquitto on a free 127.0.0.1 port (persistence on, max_queued_messages 0), a fresh
outbox (SQLite WAL, the given ``synchronous`` mode: ``full`` fsyncs every commit), the MqttPublisher
(QoS 1, ``max_inflight`` window) and ``edge-gateway audit serve`` in its own process (as the cloud
side runs; SQLite audit store). In front of the outbox sits the production path: the
``AlertDecider`` (one ``alert-decider`` thread: the RuleEngine, then ``Outbox.append_async``, then
the announcement), with each camera's rules built from config by ``gateway.pipeline.specs`` as
``serve`` builds them. ``cameras`` threads stand in for the camera callbacks: each submits frame
results (a person in the zone, then an empty frame, alternately) to ``AlertDecider.submit``; every
camera has ``rules`` presence rules with min_frames 1, end_after_s 0 and cooldown 0, so each frame
decides one start or one end per rule. A camera keeps at most ``window`` of its alerts decided and
not yet announced (durable), as real cameras are kept back by the model's rate rather than
flooding the decider's bounded inbox.
Reported: committed/s (announced by the decider: durable), delivered/s (all PUBACKs), and end-to-end
stored/s (every alert verified and stored once in the audit store), from the first submit to the last
one stored, plus the CPU time per alert of each process. After each run the store must hold seq
1..N exactly once with nothing rejected and ``edge-gateway audit verify`` must exit 0.
Results go to bench/results/alerts.json plus a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.audit.store import AuditStore
from gateway.config import CameraConfig, MqttConfig, OutboxConfig
from gateway.decider import AlertDecider
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import Alert, Detection, FrameResult, ModelRef
from gateway.pipeline.specs import rule_specs
from tests.support.mosquitto import Mosquitto

DEVICE_ID = "bench-box"
TARGET_PER_S = 2000.0
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "alerts.json"


MODEL = ModelRef("person-detector", 1)
PERSON = (Detection("person", 0.9, (0.4, 0.4, 0.6, 0.9)),)


def cameras_config(cameras: int, rules: int) -> list[CameraConfig]:
    """``cameras`` cameras, each with ``rules`` presence rules that start on one frame and end on the
    next (min_frames 1, end_after_s 0, cooldown 0)."""
    rule = {"labels": ["person"], "zones": ["yard"], "min_frames": 1, "cooldown_s": 0, "end_after_s": 0}
    return [
        CameraConfig.model_validate(
            {
                "id": f"cam{camera}",
                "url": "rtsp://127.0.0.1/bench",
                "model": "person-detector",
                "zones": [{"name": "yard", "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}],
                "rules": [{**rule, "name": f"rule{index}"} for index in range(rules)],
            }
        )
        for camera in range(cameras)
    ]


class Announced:
    """The decider's announcement: counts durable alerts per camera, so producers can keep a window."""

    def __init__(self) -> None:
        self.per_camera: collections.Counter[str] = collections.Counter()
        self.total = 0
        self._changed = threading.Condition()

    def __call__(self, alert: Alert) -> None:
        with self._changed:
            self.per_camera[alert.event.camera_id] += 1
            self.total += 1
            self._changed.notify_all()

    def wait_for(self, camera_id: str, at_least: int) -> None:
        with self._changed:
            while self.per_camera[camera_id] < at_least:
                self._changed.wait()


def wait_until(condition: Any, timeout_s: float, what: str) -> float:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.005)
    return time.monotonic()


def start_audit(root: Path, broker_url: str, database: str, key: bytes) -> subprocess.Popen[bytes]:
    """``edge-gateway audit serve`` in its own process, as the cloud side runs; returns once subscribed."""
    keys_file = root / "keys.json"
    keys_file.write_text(json.dumps({DEVICE_ID: key.hex()}))
    config_file = root / "audit.yaml"
    config_file.write_text(
        json.dumps({"mqtt": {"url": broker_url}, "database": database, "keys_file": str(keys_file)})
    )
    log_file = root / "audit.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "audit", "serve", "--config", str(config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        wait_until(lambda: b"audit: subscribed" in log_file.read_bytes(), 30, "the audit subscriber")
    except TimeoutError:
        process.kill()
        process.wait()
        raise
    return process


def process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a live child process (Linux /proc)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def verify_audit(database: str, root: Path) -> int:
    """``edge-gateway audit verify``: exit 0 means no gaps, no chain breaks, no bad signatures."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "audit",
            "verify",
            "--db",
            database,
            "--keys",
            str(root / "keys.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    return completed.returncode


def run(
    total: int, *, cameras: int, rules: int, window: int, synchronous: str, protocol: str, max_inflight: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as scratch:
        root = Path(scratch)
        with Mosquitto(root / "broker") as broker:
            state_dir = root / "state"
            key = load_or_create_key(state_dir)
            database = f"sqlite:///{root / 'audit.db'}"
            audit = start_audit(root, broker.url, database, key)
            checker = AuditStore.open(database, {DEVICE_ID: key})
            registry = CollectorRegistry()
            outbox = Outbox(
                state_dir,
                DEVICE_ID,
                key,
                config=OutboxConfig.model_validate({"synchronous": synchronous}),
                registry=registry,
            )
            publisher = MqttPublisher(
                MqttConfig.model_validate(
                    {"url": broker.url, "max_inflight": max_inflight, "protocol": protocol}
                ),
                DEVICE_ID,
                outbox,
                registry,
            )
            announced = Announced()
            decider = AlertDecider(
                outbox, rule_specs(cameras_config(cameras, rules)), announce=announced, registry=registry
            )
            decider.start()
            publisher.start()
            # An even number of frames per camera: every event started also ends on its own.
            frames = total // (cameras * rules) // 2 * 2
            count = frames * cameras * rules

            def produce(camera: int) -> None:
                camera_id = f"cam{camera}"
                for frame in range(frames):
                    # Keep at most ``window`` of this camera's alerts decided and not yet durable.
                    announced.wait_for(camera_id, (frame + 1) * rules - window)
                    detections = PERSON if frame % 2 == 0 else ()
                    decider.submit(
                        FrameResult(camera_id, frame, 1_764_000_000.0 + frame / 5, MODEL, detections)
                    )

            threads = [
                threading.Thread(target=produce, args=(camera,), name=f"camera-{camera}")
                for camera in range(cameras)
            ]
            load_before = os.getloadavg()[0]
            cpu_before = (own_cpu_s(), process_cpu_s(broker.pid), process_cpu_s(audit.pid))
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            committed = wait_until(lambda: announced.total >= count, 300, "every alert durable")
            delivered = wait_until(lambda: outbox.stats().pending == 0, 300, "all PUBACKs")

            def stored_all() -> bool:
                progress = checker.progress([DEVICE_ID])
                return bool(progress) and progress[0].contiguous_seq >= count

            stored = wait_until(stored_all, 300, "the audit store")
            cpu_after = (own_cpu_s(), process_cpu_s(broker.pid), process_cpu_s(audit.pid))
            progress = checker.progress([DEVICE_ID])[0]
            rejected = checker.rejected_counts()
            dropped = registry.get_sample_value(
                "edge_gateway_decider_results_dropped_total", {"reason": "inbox_full"}
            )
            # Stopping ends nothing here: every event of the run ended on its own empty frame.
            decider.stop(10)
            publisher.stop()
            outbox.close()
            checker.close()
            audit.send_signal(signal.SIGTERM)
            audit.wait(60)
            verify_exit = verify_audit(database, root)
    if progress.max_seq != count or rejected or verify_exit != 0 or dropped:
        raise RuntimeError(
            f"audit store incomplete: {progress}, rejected {rejected}, verify exit {verify_exit}, "
            f"results dropped {dropped}"
        )
    return {
        "alerts": count,
        "cameras": cameras,
        "rules_per_camera": rules,
        "window": window,
        "synchronous": synchronous,
        "protocol": protocol,
        "max_inflight": max_inflight,
        "committed_per_s": round(count / (committed - started), 1),
        "delivered_per_s": round(count / (delivered - started), 1),
        "stored_per_s": round(count / (stored - started), 1),
        "seconds_to_store": round(stored - started, 3),
        "audit_contiguous_seq": progress.contiguous_seq,
        "rejected": sum(rejected.values()),
        "audit_verify_exit": verify_exit,
        "meets_target": count / (stored - started) >= TARGET_PER_S,
        "load_average_1m_before": round(load_before, 2),
        # CPU time per alert does not depend on how busy the shared machine is, throughput does.
        "cpu_us_per_alert": {
            name: round((after - before) / count * 1e6, 1)
            for name, before, after in zip(
                ("gateway", "mosquitto", "audit"), cpu_before, cpu_after, strict=True
            )
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--rules", type=int, default=4, help="presence rules per camera")
    parser.add_argument("--synchronous", nargs="+", default=["full", "normal"], choices=["full", "normal"])
    parser.add_argument(
        "--window",
        type=int,
        nargs="+",
        default=[64],
        help="alerts each camera keeps decided and not yet durable",
    )
    parser.add_argument("--protocol", nargs="+", default=["5"], choices=["5", "3.1.1"])
    parser.add_argument("--max-inflight", type=int, default=64)
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args(argv)
    rows = [
        run(
            arguments.alerts,
            cameras=arguments.cameras,
            rules=arguments.rules,
            window=window,
            synchronous=synchronous,
            protocol=protocol,
            max_inflight=arguments.max_inflight,
        )
        for synchronous in arguments.synchronous
        for protocol in arguments.protocol
        for window in arguments.window
    ]
    result = {
        "benchmark": "alerts from the decider through the outbox to mosquitto (QoS 1) into the audit store",
        "command": "python -m bench.alerts " + " ".join(argv),
        "target_alerts_per_s": TARGET_PER_S,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "audit_store": "edge-gateway audit serve (separate process), SQLite store, default max_batch",
        "runs": rows,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(result, indent=2) + "\n")
    columns = ["synchronous", "MQTT", "alerts", "cameras x rules", "window", "max_inflight"]
    columns += ["committed/s", "delivered/s"]
    print("| " + " | ".join([*columns, "stored/s", "stored >= 2,000/s"]) + " |")
    print("|" + "---|" * (len(columns) + 2))
    keys = ["committed_per_s", "delivered_per_s", "stored_per_s"]
    for row in rows:
        cells = [str(row["synchronous"]), str(row["protocol"]), str(row["alerts"])]
        cells += [
            f"{row['cameras']} x {row['rules_per_camera']}",
            str(row["window"]),
            str(row["max_inflight"]),
        ]
        cells += [str(row[key]) for key in keys] + ["yes" if row["meets_target"] else "no"]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
