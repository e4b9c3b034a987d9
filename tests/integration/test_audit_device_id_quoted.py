"""The audit HTTP API names a device id it cannot find in double quotes with JSON's escapes
(``"box\\u0001"``), which the keys file (YAML) reads back as that very id. It showed Python's repr
(``'box\\x01'``), which pasted into the keys file's single quotes names another device. A store on
SQLite behind the real app on a loopback port."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
import yaml

from gateway.audit.keys_file import load_keys
from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.fleet_server import fleet_server

KEY = bytes(range(32))
DEVICE = "box\x01\ttab"
SHOWN = '"box\\u0001\\ttab"'


def test_a_device_id_in_an_error_is_quoted_as_the_keys_file_reads_it(tmp_path: Path) -> None:
    # Given a device whose id holds control characters, with two alerts stored: a start whose image
    # has not arrived, and an update, which carries none
    url = f"sqlite:///{tmp_path}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    chain.extend(2, evidence=True)
    store = AuditStore.open(url, {DEVICE: KEY})
    try:
        store.ingest([ReceivedMessage(chain.topic, payload, 1_780_000_001.0) for payload in chain.payloads])
    finally:
        store.close()
    other = urllib.parse.quote("other\x01", safe="")
    device = urllib.parse.quote(DEVICE, safe="")

    with fleet_server(url, {DEVICE: KEY}, "token") as server:
        # When what is not there is asked for, then each error names the device as JSON quotes it
        for path, message in [
            (f"/v1/devices/{other}", 'no device "other\\u0001" in the audit log or the keys file'),
            (f"/v1/devices/{other}/alerts", 'no device "other\\u0001" in the audit log or the keys file'),
            (
                f"/v1/devices/{other}/alerts/1/evidence.jpg",
                'no alert 1 of device "other\\u0001" in the audit log',
            ),
            (
                f"/v1/devices/{device}/alerts/2/evidence.jpg",
                f"alert 2 of device {SHOWN} carries no evidence: only start and instant alerts do",
            ),
            (
                f"/v1/devices/{device}/alerts/1/evidence.jpg",
                f"the evidence of alert 1 of device {SHOWN} has not arrived (the device is asked to "
                "replay it)",
            ),
        ]:
            answer = server.get(path)
            assert answer.status == 404, path
            assert json.loads(answer.body)["error"] == message


# (an id holding a control character, as DEVICE does, is one the keys file refuses: no MQTT topic holds it)
@pytest.mark.parametrize("device_id", ["no\u00a0break\u202e", "back\\slash", 'say "cheese"'])
def test_the_id_a_404_names_pastes_into_the_keys_file_as_itself(tmp_path: Path, device_id: str) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    AuditStore.open(url, {}).close()
    with fleet_server(url, {}, "token") as server:
        answer = server.get(f"/v1/devices/{urllib.parse.quote(device_id, safe='')}")
    error = json.loads(answer.body)["error"]
    shown = error.removeprefix("no device ").removesuffix(" in the audit log or the keys file")

    keys = tmp_path / "keys.yaml"
    keys.write_text(f"{shown}: {KEY.hex()}\n", encoding="utf-8")
    assert load_keys(keys) == {device_id: (KEY,)}
    assert yaml.safe_load(shown) == device_id
