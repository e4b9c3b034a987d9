"""Alerts/s from the gateway's own decider path to a real mosquitto at QoS 1 and into the audit store.

    .venv/bin/python -m bench.alerts [--alerts 20000] [--cameras 8] [--rules 4] [--window 64]
        [--synchronous full normal] [--protocol 5 3.1.1] [--max-inflight 64]
        [--evidence-alerts 4000] [--evidence-window 12]

Per run: a fresh mosquitto on a free 127.0.0.1 port (persistence on, max_queued_messages 0), a fresh
outbox (SQLite WAL, the given ``synchronous`` mode: ``full`` fsyncs every commit), the MqttPublisher
(QoS 1, ``max_inflight`` window) and ``edge-gateway audit serve`` in its own process (as the cloud
side runs; SQLite audit store). In front of the outbox sits the production path: the
``AlertDecider`` (one ``alert-decider`` thread: the RuleEngine, then ``Outbox.append_async``, then
the announcement), with each camera's rules built from config by ``gateway.pipeline.specs`` as
``serve`` builds them, and each camera's tracker (presence rules follow tracks). ``cameras`` threads
stand in for the camera callbacks: each submits frame results at 5 fps of capture time (a person in
the zone on two frames, which the tracker needs to confirm its track, then an empty frame) to
``AlertDecider.submit``; every camera has ``rules`` presence rules with min_frames 1, end_after_s 0
and cooldown 0, so the second frame of each three decides one start per rule and the third one end.
A camera keeps at most ``window`` of its alerts decided and not yet announced (durable), as real
cameras are kept back by the model's rate rather than flooding the decider's bounded inbox.
Reported: committed/s (announced by the decider: durable), delivered/s (all PUBACKs), and end-to-end
stored/s (every alert verified and stored once in the audit store), from the first submit to the last
one stored, plus the CPU time per alert of each process. After each run the store must hold seq
1..N exactly once with nothing rejected and ``edge-gateway audit verify`` must exit 0.

Evidence row (``--evidence-alerts``, 0 to skip; run with the first ``--synchronous`` mode): the same
path with evidence on, as ``serve`` runs it: every result comes with a 1280x720 frame (synthetic,
``bench.evidence``), the decider hands the frames that start events to the real ``EvidenceEncoder``
(JPEG quality 85), and each start alert is committed with its image, published on its evidence topic
and stored and verified by the audit service. Reported beside alerts/s: images encoded and their CPU
per image at 720p (the encoder thread's own CPU time), bytes per image, and starts that went without
evidence. A camera keeps at most ``--evidence-window`` alerts decided and not yet durable, so the frames
the decider holds stay under its bound, as real cameras (5 fps) keep them.
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

from bench.evidence import scene_frames
from gateway.audit.store import AuditStore
from gateway.config import CameraConfig, EvidenceConfig, MqttConfig, OutboxConfig
from gateway.decider import AlertDecider
from gateway.delivery.evidence import EvidenceEncoder
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import Alert, Detection, Frame, FrameResult, ModelRef
from gateway.pipeline.specs import rule_specs, tracker_specs
from tests.support.mosquitto import Mosquitto

DEVICE_ID = "bench-box"
TARGET_PER_S = 2000.0
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "alerts.json"


MODEL = ModelRef("person-detector", 1)
FIRST_CAPTURE_AT = 1_764_000_000.0
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
    total: int,
    *,
    cameras: int,
    rules: int,
    window: int,
    synchronous: str,
    protocol: str,
    max_inflight: int,
    evidence: bool = False,
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
            encoder = EvidenceEncoder(EvidenceConfig(), registry) if evidence else None
            images = scene_frames(8, 1280, 720, noise=4, foliage=False) if evidence else []
            configs = cameras_config(cameras, rules)
            decider = AlertDecider(
                outbox,
                rule_specs(configs),
                announce=announced,
                registry=registry,
                trackers=tracker_specs(configs),
                evidence=encoder,
                # The decider's periodic tick must not end events between the synthetic frames:
                # its clock stays before the first capture time (a real camera's frames are in the
                # past when the tick runs, these run ahead of real time).
                clock=lambda: FIRST_CAPTURE_AT - 1000.0,
            )
            if encoder is not None:
                encoder.start()
            decider.start()
            publisher.start()
            # Whole triples of frames per camera: every event started also ends on its own.
            events = total // (cameras * rules) // 2
            frames = events * 3
            count = events * 2 * cameras * rules

            def produce(camera: int) -> None:
                camera_id = f"cam{camera}"
                decided = 0
                for frame in range(frames):
                    # Keep at most ``window`` of this camera's alerts decided and not yet durable.
                    decided += rules if frame % 3 else 0
                    announced.wait_for(camera_id, decided - window)
                    detections = PERSON if frame % 3 != 2 else ()
                    captured_at = FIRST_CAPTURE_AT + frame / 5
                    image = Frame(camera_id, frame, captured_at, 0.0, images[frame % 8]) if images else None
                    decider.submit(FrameResult(camera_id, frame, captured_at, MODEL, detections), image)

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
                return (
                    bool(progress)
                    and progress[0].contiguous_seq >= count
                    and not progress[0].evidence_missing
                )

            stored = wait_until(stored_all, 300, "the audit store")
            cpu_after = (own_cpu_s(), process_cpu_s(broker.pid), process_cpu_s(audit.pid))
            progress = checker.progress([DEVICE_ID])[0]
            rejected = checker.rejected_counts()
            dropped = registry.get_sample_value(
                "edge_gateway_decider_results_dropped_total", {"reason": "inbox_full"}
            )
            images_encoded = registry.get_sample_value("edge_gateway_evidence_images_total") or 0.0
            encode_cpu_s = registry.get_sample_value("edge_gateway_evidence_encode_cpu_seconds_sum") or 0.0
            image_bytes = registry.get_sample_value("edge_gateway_evidence_bytes_total") or 0.0
            without_evidence = sum(
                registry.get_sample_value("edge_gateway_evidence_missing_total", {"reason": reason}) or 0.0
                for reason in ("frames_full", "no_frame", "encode_failed", "timeout")
            )
            # Stopping ends nothing here: every event of the run ended on its own empty frame.
            decider.stop(10)
            if encoder is not None:
                encoder.stop()
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
    row: dict[str, Any] = {
        "alerts": count,
        "evidence": evidence,
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
    if evidence:
        row["evidence_images_encoded"] = int(images_encoded)
        row["evidence_cpu_ms_per_image_720p"] = round(encode_cpu_s / max(1.0, images_encoded) * 1000, 3)
        row["evidence_bytes_per_image"] = round(image_bytes / max(1.0, images_encoded))
        row["starts_without_evidence"] = int(without_evidence)
    return row


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
    parser.add_argument(
        "--evidence-alerts", type=int, default=4000, help="alerts of the evidence row; 0: none"
    )
    parser.add_argument("--evidence-window", type=int, default=12)
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
    if arguments.evidence_alerts > 0:
        rows.append(
            run(
                arguments.evidence_alerts,
                cameras=arguments.cameras,
                rules=arguments.rules,
                window=arguments.evidence_window,
                synchronous=arguments.synchronous[0],
                protocol=arguments.protocol[0],
                max_inflight=arguments.max_inflight,
                evidence=True,
            )
        )
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
    load = ", ".join(f"{row['load_average_1m_before']}" for row in rows)
    lines = [
        f"Command: `{str(result['command']).strip()}`; {os.cpu_count()} cores; load average (1 min) "
        f"before each run: {load}. The >= 2,000/s target is for alerts without evidence.",
        "",
        "| synchronous | MQTT | evidence | alerts | cameras x rules | window | max_inflight | committed/s "
        "| delivered/s | stored/s | stored >= 2,000/s |",
        "|" + "---|" * 11,
    ]
    for row in rows:
        cells = [str(row["synchronous"]), str(row["protocol"]), "on" if row["evidence"] else "off"]
        cells += [str(row["alerts"]), f"{row['cameras']} x {row['rules_per_camera']}", str(row["window"])]
        cells += [str(row["max_inflight"])]
        cells += [str(row[key]) for key in ("committed_per_s", "delivered_per_s", "stored_per_s")]
        cells.append("n/a" if row["evidence"] else "yes" if row["meets_target"] else "no")
        lines.append("| " + " | ".join(cells) + " |")
    with_evidence = [row for row in rows if row["evidence"]]
    if with_evidence:
        lines += [
            "",
            "| evidence run | images encoded | CPU ms per image (720p) | bytes per image "
            "| starts without evidence |",
            "|---|---|---|---|---|",
        ]
        for row in with_evidence:
            lines.append(
                f"| {row['alerts']} alerts | {row['evidence_images_encoded']} | "
                f"{row['evidence_cpu_ms_per_image_720p']} | {row['evidence_bytes_per_image']:,} | "
                f"{row['starts_without_evidence']} |"
            )
    arguments.output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
