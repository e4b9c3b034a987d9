"""Evidence through every real part: ``edge-gateway serve`` playing the demo clip through the face
detector on ONNX Runtime, the signed outbox, a real mosquitto, ``edge-gateway audit serve`` on SQLite
and on PostgreSQL (with its HTTP API), and ``edge-gateway audit verify``:

- every start alert carries the frame that fired it, and its image reaches the audit log and matches
  the digest in the signed alert, across a SIGKILL of the gateway mid-stream and a restart;
- the device's ``/v1/events/{seq}/evidence.jpg`` and the audit's ``.../alerts/{seq}/evidence.jpg``
  serve the same bytes, whose ``sha256sum`` is the alert's;
- one byte of a stored image changed makes ``audit verify`` exit 1 naming that alert.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import cast

import pytest
import yaml

from gateway.protocol.alerts import decode_alert
from tests.integration.delivery.test_audit_store import execute_sql
from tests.integration.test_end_to_end import wait_for_alerts, write_gateway_config
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.postgres import PostgresServer
from tests.support.serve import Process, face_repository, last_committed_seq

DEVICE = "e2e"
AUDIT_WAIT_S = 60.0


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


def starts_in_outbox(state_dir: Path) -> dict[int, str | None]:
    """seq -> the image digest of every start alert the gateway committed (None: no evidence)."""
    database = state_dir / "outbox.db"
    if not database.exists():
        return {}
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        try:
            rows = connection.execute("SELECT payload FROM alerts ORDER BY seq").fetchall()
        except sqlite3.OperationalError:  # the gateway is still creating the schema
            return {}
    starts = {}
    for (payload,) in rows:
        alert = decode_alert(bytes(payload))
        if alert.event.kind.value == "start":
            evidence = alert.event.evidence
            starts[alert.seq] = None if evidence is None else evidence.sha256
    return starts


def verify(database: str, keys: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "verify", "--db", database, "--keys", str(keys)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        body: bytes = reply.read()
    return body


def test_every_start_s_evidence_reaches_the_audit_log_across_a_sigkill(
    tmp_path: Path, processes: list[Process], audit_database: str
) -> None:
    # Given a device key known to the audit side, the audit service with its HTTP API, a broker
    key = secrets.token_hex(32)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "signing.key").write_text(key)
    keys = tmp_path / "device-keys.yaml"
    keys.write_text(yaml.safe_dump({DEVICE: key}))
    audit_port = free_port()
    with Mosquitto(tmp_path / "broker") as broker:
        mqtt = {"url": broker.url, "topic_prefix": "fleet"}
        audit_config = tmp_path / "audit.yaml"
        audit_config.write_text(
            yaml.safe_dump(
                {
                    "mqtt": {**mqtt, "client_id": "audit-evidence"},
                    "database": audit_database,
                    "keys_file": str(keys),
                    "http": {"port": audit_port},
                }
            )
        )
        gateway_config = write_gateway_config(tmp_path, state_dir, face_repository(tmp_path), mqtt)
        audit = Process(["audit", "serve", "--config", str(audit_config)], tmp_path / "audit.log")
        processes.append(audit)
        audit.wait_for_log("audit HTTP API listening")

        # When the gateway is SIGKILLed right after a start was committed, then restarted
        first = Process(["serve", "--config", str(gateway_config)], tmp_path / "gateway-1.log")
        processes.append(first)
        deadline = time.monotonic() + 90
        while not starts_in_outbox(state_dir):
            assert time.monotonic() < deadline, first.output()
            assert first.process.poll() is None, first.output()
            time.sleep(0.2)
        first.kill()
        killed_at = last_committed_seq(state_dir)
        second = Process(["serve", "--config", str(gateway_config)], tmp_path / "gateway-2.log")
        processes.append(second)
        wait_for_alerts(state_dir, killed_at + 3, second)
        while not any(seq > killed_at for seq in starts_in_outbox(state_dir)):
            assert time.monotonic() < deadline + 90, second.output()
            time.sleep(0.2)

        # Then the device serves each start's image, the bytes its signed alert names
        starts = starts_in_outbox(state_dir)
        assert None not in starts.values(), starts
        port = second.api_port()
        for seq, digest in starts.items():
            image = fetch(f"http://127.0.0.1:{port}/v1/events/{seq}/evidence.jpg")
            assert hashlib.sha256(image).hexdigest() == digest
            assert image[:3] == b"\xff\xd8\xff"
            alert = json.loads(fetch(f"http://127.0.0.1:{port}/v1/events/{seq}"))
            assert alert["evidence"]["sha256"] == digest
        assert second.terminate() == 0, second.output()
        total = last_committed_seq(state_dir)
        starts = starts_in_outbox(state_dir)

        # And the audit log holds every alert and every start's image, none missing, all matching
        expected = f"{DEVICE}: {total} alerts, seq 1..{total}, signatures checked: ok ({len(starts)} evidence"
        deadline = time.monotonic() + AUDIT_WAIT_S
        while True:
            result = verify(audit_database, keys)
            if expected in result.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert result.returncode == 0, result.stdout + result.stderr + audit.output()
        assert expected in result.stdout, result.stdout
        for seq, digest in starts.items():
            image = fetch(f"http://127.0.0.1:{audit_port}/v1/devices/{DEVICE}/alerts/{seq}/evidence.jpg")
            assert hashlib.sha256(image).hexdigest() == digest
        assert audit.terminate() == 0, audit.output()

    # When one byte of one stored image is changed, then verify exits 1 and names that alert
    edited_seq = max(starts)
    (stored,) = execute_sql(audit_database, "SELECT data FROM audit_evidence WHERE seq = ?", (edited_seq,))
    edited = bytearray(cast(bytes, stored[0]))
    edited[len(edited) // 2] ^= 0x01
    execute_sql(
        audit_database, "UPDATE audit_evidence SET data = ? WHERE seq = ?", (bytes(edited), edited_seq)
    )
    result = verify(audit_database, keys)
    assert result.returncode == 1, result.stdout
    assert f"evidence does not match its alert at seq {edited_seq}" in result.stdout
