"""The audit subscriber asks only the devices it has a key for to replay their gaps. A device taken
out of the keys file (retired, or its key withdrawn) while the store held its alerts with a gap was
asked for that gap at every start, then again every five minutes for good, and every alert it
replayed was rejected (``unknown_device``). A real mosquitto, the subscriber, devices answering
replay requests, stores on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain, MqttDevice, wait_until
from tests.support.audit_service import audit_service

KEY = bytes(range(32))
WAIT_S = 30.0


def test_a_device_no_longer_in_the_keys_file_is_not_asked_to_replay(
    tmp_path: Path, database_url: str
) -> None:
    # Given a store holding alerts 1, 2 and 4 of box-kept and of box-removed (3 missing in each)
    chains = {device_id: AlertChain(device_id, KEY) for device_id in ("box-kept", "box-removed")}
    store = AuditStore.open(database_url, dict.fromkeys(chains, KEY))
    try:
        for chain in chains.values():
            chain.extend(4)
            store.ingest(
                [ReceivedMessage(chain.topic, chain.payload(seq), 1_780_000_001.0) for seq in (1, 2, 4)]
            )
    finally:
        store.close()

    # When the subscriber starts with box-removed taken out of the keys file, both devices listening
    with audit_service(tmp_path, database_url, {"box-kept": KEY}, replay_after_s=0.5) as audit:
        devices = {device_id: MqttDevice(audit.broker_url, chain) for device_id, chain in chains.items()}
        try:
            # Then box-kept is asked for seq 3 and its gap closes
            wait_until(lambda: audit.store.progress(["box-kept"])[0].contiguous_seq == 4, WAIT_S)
            assert (3, 3) in devices["box-kept"].replay_requests
            # And box-removed, asked in the same round as box-kept had it been asked, is not
            assert devices["box-removed"].replay_requests == []
            assert audit.sample("edge_gateway_audit_rejected_total", {"reason": "unknown_device"}) == 0
        finally:
            for device in devices.values():
                device.close()
