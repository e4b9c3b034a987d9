"""The audit store's bounds on what no device signed (held images, rejected messages:
``gateway.audit.bounds``) are keys of the audit config, ``bounds:``, which ``audit serve`` passes
to its store. They were constructor defaults only: a deployment could not lower them (nor raise
them), and a config naming them was refused. ``audit serve`` in its own process, a real mosquitto,
stores on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.integration.test_audit_schema_versions import execute_sql
from tests.support.audit_device import connect_client, wait_until
from tests.support.fleet import AuditInstance
from tests.support.mosquitto import Mosquitto

KEY = bytes(range(32))
WAIT_S = 30.0


def test_audit_serve_keeps_rejected_messages_within_the_configured_bounds(
    tmp_path: Path, database_url: str
) -> None:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"box-a: {KEY.hex()}\nbox-b: {KEY.hex()}\n")
    with Mosquitto(tmp_path / "broker") as broker:
        # Given audit serve keeping two rejected messages per device and three in all
        instance = AuditInstance(
            tmp_path,
            "bounded",
            broker=broker.url,
            database=database_url,
            keys_file=keys_file,
            extra={"bounds": {"rejected_per_device": 2, "rejected": 3}},
        )
        instance.start()
        client = connect_client(broker.url, f"devices-{secrets.token_hex(4)}")
        try:
            # When box-a sends five messages that are not alerts, then box-b two
            for device_id, count in (("box-a", 5), ("box-b", 2)):
                for number in range(count):
                    payload = f"not an alert {number}".encode()
                    client.publish(f"edge/{device_id}/alerts", payload, qos=1).wait_for_publish(10)

            # Then every one is counted, and the store keeps the newest within the bounds
            def rejected() -> dict[str, int]:
                return {
                    device["device_id"]: device["rejected"]
                    for device in instance.get("/v1/devices")["devices"]
                }

            wait_until(lambda: rejected() == {"box-a": 5, "box-b": 2}, WAIT_S)
        finally:
            client.disconnect()
            client.loop_stop()
            instance.stop()
        kept = execute_sql(database_url, "SELECT device_id, payload FROM audit_rejected ORDER BY id")
        assert [(device, bytes(payload)) for device, payload in kept] == [  # type: ignore[call-overload]
            ("box-a", b"not an alert 4"),
            ("box-b", b"not an alert 0"),
            ("box-b", b"not an alert 1"),
        ]
