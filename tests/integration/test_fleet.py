"""A fleet end to end: 20 simulated gateways (the real outbox and MQTT publisher, in two processes)
and two more that misbehave, one mosquitto, two ``audit serve`` instances in one ``$share`` group
with their HTTP APIs, and a real PostgreSQL.

During the run one audit instance is killed with SIGKILL and started again. Then: every alert of
every good device is in PostgreSQL exactly once, ``GET /v1/devices`` on either instance shows each
device online with its last seq, and a device whose process is killed (its connection dropped, so the
broker publishes its last will) turns offline. A device signing with a key that is not the one on
file, and one that sends an alert out of its chain, show as problems, with their alerts rejected.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gateway.protocol.alerts import build_alert, encode_alert
from tests.support.audit_device import AlertChain, MqttDevice, event
from tests.support.fleet import ROOT, AuditInstance, DeviceGroup, write_keys
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import PostgresServer

GOOD = [f"fleet-{number:02d}" for number in range(20)]
DROPPED = GOOD[-1]
"""Runs alone in its own process, which is killed at the end: its connection drops."""
FORGED = "fleet-forged"
"""Signs with its own key, but the keys file holds another."""
UNCHAINED = "fleet-unchained"
"""Sends alerts 1..3, then an alert 4 that does not link to alert 3."""
ALERTS = 30
WAIT_S = 120.0


@dataclass
class Fleet:
    instances: list[AuditInstance]
    database: str
    token: str
    keys_file: Path
    last_seqs: dict[str, int]
    dropped: DeviceGroup

    def devices(self, instance: int = 0) -> dict[str, Any]:
        answer = self.instances[instance].get("/v1/devices", self.token)
        return {device["device_id"]: device for device in answer["devices"]}


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, seen: Callable[[], str] | None = None
) -> None:
    """``seen`` says what there was instead, in the error when the wait times out."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}" + (f": {seen()}" if seen is not None else ""))
        time.sleep(0.2)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    token = secrets.token_urlsafe(16)
    tokens_file = root / "tokens"
    tokens_file.write_text(token + "\n")
    keys_file = root / "keys.json"
    write_keys(root / "devices", [*GOOD, FORGED, UNCHAINED], keys_file, wrong=[FORGED])
    groups: list[DeviceGroup] = []
    instances: list[AuditInstance] = []
    with PostgresServer() as postgres, Mosquitto(root / "broker") as broker:
        database = postgres.create_database()
        try:
            for name in ("1", "2"):
                instance = AuditInstance(
                    root,
                    name,
                    broker=broker.url,
                    database=database,
                    keys_file=keys_file,
                    tokens_file=tokens_file,
                )
                instance.start()
                instances.append(instance)
            # Given 20 devices (one alone in its own process) and the forged one, at 10 alerts/s each
            options = ("--alerts", str(ALERTS), "--rate", "10", "--evidence", "64x48")
            groups.append(DeviceGroup(root / "devices", broker.url, [*GOOD[:-1], FORGED], *options))
            dropped = DeviceGroup(root / "devices", broker.url, [DROPPED], *options)
            groups.append(dropped)
            for group in groups:
                group.wait_for("ready", WAIT_S)
            # When one audit instance is killed mid-run and started again
            time.sleep(1.0)
            instances[0].kill()
            time.sleep(1.0)
            instances[0].start()
            last_seqs: dict[str, int] = {}
            for group in groups:
                last_seqs.update(group.drained(WAIT_S))
            yield Fleet(instances, database, token, keys_file, last_seqs, dropped)
        finally:
            for group in groups:
                group.stop()
            for instance in instances:
                instance.stop()


def test_every_alert_is_stored_exactly_once_through_a_killed_instance(fleet: Fleet) -> None:
    assert all(fleet.last_seqs[device_id] == ALERTS for device_id in GOOD)
    # Then each good device's alerts 1..30 arrive (the killed instance's share after its restart)
    wait_until(
        lambda: all(
            fleet.devices()[device_id]["contiguous_seq"] == ALERTS
            and fleet.devices()[device_id]["evidence_missing"] == 0
            for device_id in GOOD
        ),
        WAIT_S,
        "every alert and image of every device",
    )
    with psycopg.connect(fleet.database) as connection:
        rows = connection.execute(
            "SELECT device_id, COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM audit_alerts "
            "GROUP BY device_id ORDER BY device_id"
        ).fetchall()
    assert {row[0]: row[1:] for row in rows} == dict.fromkeys(GOOD, (ALERTS, ALERTS, 1, ALERTS))
    # The killed instance came back to the session the broker kept for it (and its queued share)
    assert "connected (session present: True)" in fleet.instances[0].log_text()


def test_devices_shows_each_device_online_with_its_last_seq_on_either_instance(fleet: Fleet) -> None:
    # Every device, not only the first: run alone, this test races the killed instance's replays.
    wait_until(
        lambda: all(fleet.devices()[device_id]["contiguous_seq"] == ALERTS for device_id in GOOD),
        WAIT_S,
        "every device stored",
    )
    for instance in (0, 1):
        devices = fleet.devices(instance)
        for device_id in GOOD:
            device = devices[device_id]
            assert (device["state"], device["last_seq"]) == ("online", ALERTS), device
            assert device["rejected"] == 0
            assert device["missing_alerts"] == 0
            assert device["lag_s"] is not None
            assert device["last_alert_at"] is not None


def test_a_wrong_key_or_a_broken_chain_is_a_problem_and_its_alerts_are_rejected(fleet: Fleet) -> None:
    # Given a device that sends alerts 1..3 and then one that does not link to alert 3
    chain = AlertChain(UNCHAINED, json_key(fleet.keys_file, UNCHAINED))
    chain.extend(3)
    device = MqttDevice(broker_url(fleet), chain)
    try:
        device.publish(range(1, 4))
        # Stored before the next is sent: the two instances share the subscription, so an alert
        # sent right after another may be judged first, and the break then charged to alert 3.
        wait_until(
            lambda: fleet.devices().get(UNCHAINED, {}).get("contiguous_seq") == 3, WAIT_S, "alerts 1..3"
        )
        unlinked = build_alert(UNCHAINED, 4, event(4), "f" * 64, chain.key)
        device._client.publish(chain.topic, encode_alert(unlinked), qos=1).wait_for_publish(10)
    finally:
        device.close()
    # Then both misbehaving devices are problems, with every bad alert rejected and none stored
    wait_until(lambda: fleet.devices()[UNCHAINED]["rejected"] == 1, WAIT_S, "the unchained alert")
    # Exactly once each: a rejected alert the broker hands over again (its acknowledgement lost in
    # a reconnect, as on a loaded machine) is recorded once.
    wait_until(
        lambda: fleet.devices()[FORGED]["rejected"] == ALERTS,
        WAIT_S,
        "the forged alerts",
        lambda: f"rejected {fleet.devices()[FORGED]['rejected']} of {ALERTS}",
    )
    devices = fleet.devices(1)
    forged, unchained = devices[FORGED], devices[UNCHAINED]
    assert forged["alerts_stored"] == 0
    assert forged["last_rejection"]["reason"].startswith("signature")
    assert any("rejected" in problem for problem in forged["problems"])
    assert (unchained["alerts_stored"], unchained["last_seq"]) == (3, 3)
    assert unchained["last_rejection"]["reason"].startswith("chain")
    assert any("rejected" in problem for problem in unchained["problems"])
    assert fleet.instances[0].get(f"/v1/devices/{FORGED}/alerts", fleet.token)["alerts"] == []
    # And audit verify passes every good device and names the two
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "audit",
            "verify",
            "--db",
            fleet.database,
            "--keys",
            str(fleet.keys_file),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 1
    report = {line.split(":", 1)[0]: line for line in verify.stdout.splitlines() if line.startswith("fleet-")}
    assert all(report[device_id].endswith(": ok (10 evidence images checked)") for device_id in GOOD), report
    assert "rejected messages" in report[FORGED]
    assert "rejected messages" in report[UNCHAINED]


def test_a_device_whose_connection_dropped_is_shown_offline(fleet: Fleet) -> None:
    assert fleet.devices()[DROPPED]["state"] == "online"
    # When its process dies without a word: the broker publishes its last will
    fleet.dropped.kill()
    wait_until(lambda: fleet.devices()[DROPPED]["state"] == "offline", WAIT_S, "the last will")
    for instance in (0, 1):
        device = fleet.devices(instance)[DROPPED]
        assert device["state"] == "offline"
        assert "offline" in device["problems"]
        assert fleet.devices(instance)[GOOD[0]]["state"] == "online"


def json_key(keys_file: Path, device_id: str) -> bytes:
    return bytes.fromhex(json.loads(keys_file.read_text())[device_id])


def broker_url(fleet: Fleet) -> str:
    config = json.loads(fleet.instances[0].config_file.read_text())
    return str(config["mqtt"]["url"])
