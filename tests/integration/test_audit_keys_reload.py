"""``audit serve`` reads its keys file again on SIGHUP (``systemctl reload``), and drops the images
held for devices that no longer have a key.

SIGHUP took its default action and ended the service, so a device added to the fleet needed a
restart of every audit instance. Now: a device added is accepted, one removed is refused
``unknown_device``, a re-keyed one is checked with its new key, a keys file that cannot be used is
refused with the reason while the keys in force stay, and what changed is logged by device id,
never a key. Images held (before their alert) for a device taken out of the keys file were kept
for ever: its alerts are rejected, so none would ever claim them; they are dropped at start and at
each reload, logged and counted. The real command in a child process, a real mosquitto, SQLite.
"""

from __future__ import annotations

import json
from pathlib import Path

import paho.mqtt.client as mqtt

from gateway.audit.keys_file import load_keys
from gateway.audit.store import AuditStore
from gateway.audit.verify import verify_store
from tests.integration.audit_serve_process import WAIT_S, Service
from tests.support.audit_device import AlertChain, connect_client, jpeg, wait_until
from tests.support.mosquitto import Mosquitto

KEY_A = bytes(range(32))
KEY_A2 = bytes(range(100, 132))
KEY_B = bytes(range(32, 64))
KEY_C = bytes(range(64, 96))


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def stored(reader: AuditStore) -> dict[str, int]:
    return {progress.device_id: progress.contiguous_seq for progress in reader.progress() if progress.max_seq}


def rejected(reader: AuditStore, device_id: str) -> list[str]:
    return [message.reason for message in reader.rejected() if message.device_id == device_id]


def test_sighup_reloads_the_keys_file(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        service = Service(tmp_path, broker.url)
        service.write_keys({"box-a": KEY_A, "box-b": KEY_B})
        a, b, c = AlertChain("box-a", KEY_A), AlertChain("box-b", KEY_B), AlertChain("box-c", KEY_C)
        client = connect_client(broker.url, "devices")
        reader = AuditStore.open(f"sqlite:///{service.database}", {})
        try:
            with service.running():
                # Given box-a stored, box-c refused for want of a key, and an image held for box-b
                publish(client, a.topic, a.extend(1)[0])
                publish(client, c.topic, c.extend(1)[0])
                publish(client, b.image_topic(5), jpeg(5))
                wait_until(
                    lambda: stored(reader).get("box-a") == 1 and bool(rejected(reader, "box-c")), WAIT_S
                )
                wait_until(lambda: service.held("box-b") == 1, WAIT_S)

                # When box-a is re-keyed, box-b removed and box-c added, and the service is told
                service.write_keys({"box-a": KEY_A2, "box-c": KEY_C})
                service.reload("audit: keys reloaded")

                # Then what changed is logged by device id, never with a key
                log = service.log()
                assert "added box-c; removed box-b; re-keyed box-a" in log
                assert all(key.hex() not in log for key in (KEY_A, KEY_A2, KEY_B, KEY_C))
                # And box-b's held image is dropped, logged and counted
                wait_until(lambda: service.held("box-b") == 0, WAIT_S)
                assert "dropped 1 image" in service.log()
                assert service.metric('edge_gateway_audit_evidence_dropped_total{bound="unkeyed"}') == 1

                # And box-c's alerts are accepted, box-b's refused, box-a's checked with its new key
                publish(client, c.topic, c.payload(1))
                publish(client, b.topic, b.extend(1)[0])
                a.key = KEY_A2
                publish(client, a.topic, a.extend(1)[0])
                wait_until(lambda: stored(reader) == {"box-a": 2, "box-c": 1}, WAIT_S)
                wait_until(lambda: bool(rejected(reader, "box-b")), WAIT_S)
                assert rejected(reader, "box-b")[0].startswith("unknown_device")
                # And the service's fleet API knows the keys in force
                assert service.device("box-c")["key_known"] is True
                assert service.device("box-b")["key_known"] is False

                # When the keys file cannot be used, then it is refused with the reason
                service.keys_file.write_text(f"box-a: {KEY_A.hex()}\nbox-c: not-hex\n")
                service.reload("audit: keys not reloaded")
                assert 'the key of device "box-c" is not hex' in service.log()
                # And the keys in force stay: box-a's new key, box-c's key
                publish(client, a.topic, a.extend(1)[0])
                publish(client, c.topic, c.extend(1)[0])
                wait_until(lambda: stored(reader) == {"box-a": 3, "box-c": 2}, WAIT_S)
        finally:
            reader.close()
            client.disconnect()
            client.loop_stop()
    assert "Traceback" not in service.log()


def test_images_held_for_a_device_without_a_key_are_dropped_at_start(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        service = Service(tmp_path, broker.url)
        service.write_keys({"box-a": KEY_A, "box-b": KEY_B})
        b = AlertChain("box-b", KEY_B)
        client = connect_client(broker.url, "devices")
        try:
            # Given an image held for box-b
            with service.running():
                publish(client, b.image_topic(3), jpeg(3))
                wait_until(lambda: service.held("box-b") == 1, WAIT_S)

            # When the service starts again with box-b out of the keys file
            service.write_keys({"box-a": KEY_A})
            with service.running():
                # Then its held image is dropped, logged and counted
                wait_until(lambda: service.held("box-b") == 0, WAIT_S)
                assert "dropped 1 image" in service.log()
                assert service.metric('edge_gateway_audit_evidence_dropped_total{bound="unkeyed"}') == 1
        finally:
            client.disconnect()
            client.loop_stop()
    assert "Traceback" not in service.log()


def test_a_device_taken_out_is_no_longer_asked_for_its_gaps_and_one_put_back_is(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        service = Service(tmp_path, broker.url, replay_after_s=0.2)
        service.write_keys({"box-a": KEY_A, "box-b": KEY_B})
        b = AlertChain("box-b", KEY_B)
        b.extend(3)
        client = connect_client(broker.url, "devices")
        asked = "audit: asked box-b to replay seq 2..2"
        try:
            with service.running():
                # Given box-b with a gap it is asked to fill (it never answers)
                publish(client, b.topic, b.payload(1))
                publish(client, b.topic, b.payload(3))
                service.wait_for_log(asked)
                assert service.metric("edge_gateway_audit_devices_with_gaps ") == 1

                # When box-b is taken out of the keys file, then it is no longer waited on
                service.write_keys({"box-a": KEY_A})
                service.reload("audit: keys reloaded")
                wait_until(lambda: service.metric("edge_gateway_audit_devices_with_gaps ") == 0, WAIT_S)

                # And when it is put back, its gap is found again and asked for
                before = service.log().count(asked)
                service.write_keys({"box-a": KEY_A, "box-b": KEY_B})
                service.reload("audit: keys reloaded")
                service.wait_for_log(asked, before + 1)
        finally:
            client.disconnect()
            client.loop_stop()
    assert "Traceback" not in service.log()


def test_a_reload_with_a_key_list_accepts_alerts_signed_before_the_rotation(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        service = Service(tmp_path, broker.url)
        service.write_keys({"box-a": KEY_A})
        a = AlertChain("box-a", KEY_A)
        client = connect_client(broker.url, "devices")
        reader = AuditStore.open(f"sqlite:///{service.database}", {})
        try:
            with service.running():
                # Given box-a's alert 1 stored, and its alert 3 signed with the same key, held back
                publish(client, a.topic, a.extend(1)[0])
                wait_until(lambda: stored(reader).get("box-a") == 1, WAIT_S)
                a.key = KEY_A2
                a.extend(1)
                a.key = KEY_A
                late = a.extend(1)[0]

                # When box-a is re-keyed with its older key listed after the new one
                service.keys_file.write_text(f"box-a: [{KEY_A2.hex()}, {KEY_A.hex()}]\n")
                service.reload("audit: keys reloaded")
                assert "re-keyed box-a" in service.log()

                # Then its alert signed with the new key and the late one signed before are stored
                publish(client, a.topic, a.payload(2))
                publish(client, a.topic, late)
                wait_until(lambda: stored(reader).get("box-a") == 3, WAIT_S)
                assert rejected(reader, "box-a") == []
                # And the fleet API says how many keys it has, never which
                device = service.device("box-a")
                assert (device["key_known"], device["keys"]) == (True, 2)
                assert all(key.hex() not in json.dumps(device) for key in (KEY_A, KEY_A2))
                # And audit verify checks each stored alert under the listed keys
                report = verify_store(reader, load_keys(service.keys_file))
                assert report.ok, report.render()

                # When the older key is taken out, then what it signed is a bad signature again
                service.keys_file.write_text(f"box-a: [{KEY_A2.hex()}]\n")
                service.reload("audit: keys reloaded")
                a.key = KEY_A
                publish(client, a.topic, a.extend(1)[0])
                wait_until(lambda: bool(rejected(reader, "box-a")), WAIT_S)
                assert rejected(reader, "box-a")[0].startswith("signature")
                assert service.device("box-a")["keys"] == 1
        finally:
            reader.close()
            client.disconnect()
            client.loop_stop()
    log = service.log()
    assert "Traceback" not in log
    assert all(key.hex() not in log for key in (KEY_A, KEY_A2))
