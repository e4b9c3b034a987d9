"""How the audit store orders device status messages written by several instances, on SQLite and a
real PostgreSQL: each instance's own arrival order wins over its clock, the stored message read
again is a duplicate, and an instance that is behind still cannot put an older state back."""

from __future__ import annotations

import json
import time

from gateway.audit.store import AuditStore, Outcome, ReceivedMessage
from gateway.protocol.alerts import format_timestamp
from tests.support.audit_device import AlertChain

KEY = bytes(range(32))
KEYS = {"box-a": KEY}
CONNECTED_AT = 1_780_000_000.0


def status(state: str, ts: float, received_at: float, arrival: int | None = None) -> ReceivedMessage:
    payload = json.dumps({"state": state, "ts": format_timestamp(ts)}).encode()
    return ReceivedMessage("edge/box-a/status", payload, received_at, live=True, arrival=arrival)


def test_one_instance_follows_its_arrival_order_across_a_small_clock_step(database_url: str) -> None:
    store = AuditStore.open(database_url, KEYS)
    try:
        # Given the device's "online" read at 1000 s, then the instance's clock stepped back 5 s
        # (within what the instances' clocks may disagree by, so no stored time looks stepped)
        assert store.ingest([status("online", CONNECTED_AT, 1000.0, arrival=1)])[0].outcome is Outcome.STORED
        # When its stop and then its restart arrive, one transaction each
        stopped = store.ingest([status("offline", CONNECTED_AT + 60, 996.0, arrival=2)])
        restarted = store.ingest([status("online", CONNECTED_AT + 70, 997.0, arrival=3)])
        # Then both are stored in the order they came, though their arrival times are earlier
        assert [stopped[0].outcome, restarted[0].outcome] == [Outcome.STORED, Outcome.STORED]
        (device,) = store.devices()
        assert (device.status, device.status_ts) == ("online", format_timestamp(CONNECTED_AT + 70))
    finally:
        store.close()


def test_a_status_stored_by_a_clock_since_stepped_back_is_replaced(database_url: str) -> None:
    # Given "online" stored by an instance whose clock ran an hour fast
    fast = AuditStore.open(database_url, KEYS)
    try:
        fast.ingest([status("online", CONNECTED_AT, time.time() + 3600, arrival=1)])
    finally:
        fast.close()
    # When an instance started since (it knows no arrival order) reads the device's last will
    restarted = AuditStore.open(database_url, KEYS)
    try:
        (result,) = restarted.ingest([status("offline", CONNECTED_AT, time.time(), arrival=1)])
        # Then the stored arrival time, ahead of this host's clock now, orders nothing
        assert result.outcome is Outcome.STORED
        assert restarted.devices()[0].status == "offline"
    finally:
        restarted.close()


def test_the_stored_message_again_is_a_duplicate_and_a_late_instance_puts_nothing_back(
    database_url: str,
) -> None:
    first, second = AuditStore.open(database_url, KEYS), AuditStore.open(database_url, KEYS)
    try:
        # Given two instances: the first reads online, its last will and online again
        online, will, again = (
            status("online", CONNECTED_AT, 100.0, 1),
            status("offline", CONNECTED_AT - 1, 110.0, 2),
            status("online", CONNECTED_AT + 20, 120.0, 3),
        )
        first.ingest([online, will, again])
        # When the second instance, behind, writes the same messages as it read them, and the first
        # reconnects and is sent the retained copy of the last
        late = second.ingest(
            [
                status("online", CONNECTED_AT, 100.2, 1),
                status("offline", CONNECTED_AT - 1, 110.2, 2),
            ]
        )
        redelivered = first.ingest([status("online", CONNECTED_AT + 20, 130.0, 4)])
        # Then none changes the state, nor when it arrived
        assert [result.outcome for result in [*late, *redelivered]] == [Outcome.DUPLICATE] * 3
        (device,) = first.devices()
        assert (device.status, device.status_ts, device.status_received_at) == (
            "online",
            format_timestamp(CONNECTED_AT + 20),
            120.0,
        )
    finally:
        first.close()
        second.close()


def test_last_store_time_moves_on_past_a_fast_clocks_and_never_back_for_a_late_batch(
    database_url: str,
) -> None:
    chain = AlertChain("box-a", KEY)
    chain.extend(3)
    store = AuditStore.open(database_url, KEYS)
    try:
        # Given alert 1 stored by a clock an hour fast, then alert 3 read by the clock stepped back
        now = time.time()
        store.ingest([ReceivedMessage(chain.topic, chain.payload(1), now + 3600)])
        store.ingest([ReceivedMessage(chain.topic, chain.payload(3), now)])
        assert store.devices()[0].last_stored_at == now
        # When another instance, behind, stores alert 2 that it read a second earlier
        store.ingest([ReceivedMessage(chain.topic, chain.payload(2), now - 1)])
        # Then the last store time stays the latest
        assert store.devices()[0].last_stored_at == now
    finally:
        store.close()
