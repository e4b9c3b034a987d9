"""Paging through a device's alerts while more arrive. ``GET /v1/devices/{id}/alerts`` read the
device's last seq, then the page: alerts stored between the two reads filled the page past the last
seq it had read, so a full page said ``next_from_seq: null`` and a client stopped paging with alerts
left unread. The page is now read first, the last seq after it (it only grows). Stores on SQLite and
on a real PostgreSQL behind the real app on a loopback port; the alerts arrive, through a second
store connection as the subscriber's, at the moment the page is read."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from gateway.audit.fleet import StoredEntry
from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.config import HttpConfig
from tests.support.audit_device import AlertChain
from tests.support.fleet_server import FleetServer

KEY = bytes(range(32))
DEVICE = "box-1"


class ArrivingStore(AuditStore):
    """The HTTP API's store, running each of ``arrivals`` (once) as a page of alerts is about to be
    read."""

    arrivals: list[Callable[[], object]]

    def entries(
        self,
        device_id: str,
        from_seq: int,
        limit: int,
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> list[StoredEntry]:
        while self.arrivals:
            self.arrivals.pop()()
        return super().entries(device_id, from_seq, limit, since=since, until=until)


def test_a_full_page_read_while_alerts_arrive_says_more_follow(database_url: str) -> None:
    # Given a device with three alerts stored, and seven more that arrive while a page is read
    chain = AlertChain(DEVICE, KEY)
    chain.extend(10)
    writer = AuditStore.open(database_url, {DEVICE: KEY})
    writer.ingest([ReceivedMessage(chain.topic, chain.payload(seq), 1_780_000_001.0) for seq in (1, 2, 3)])
    reader = ArrivingStore.open(database_url, {DEVICE: KEY})
    assert isinstance(reader, ArrivingStore)
    reader.arrivals = [
        lambda: writer.ingest(
            [ReceivedMessage(chain.topic, chain.payload(seq), 1_780_000_002.0) for seq in range(4, 11)]
        )
    ]
    token = secrets.token_urlsafe(16)
    server = AuditHttpServer(
        create_app(reader, http=HttpConfig(port=0), tokens=frozenset({token}), registry=CollectorRegistry()),
        "127.0.0.1",
        0,
    )
    try:
        client = FleetServer(f"http://127.0.0.1:{server.start()}", token)

        # When the first page of three is read, then the next one from where it ended
        first = json.loads(client.get(f"/v1/devices/{DEVICE}/alerts?from_seq=1&limit=3").body)
        assert [alert["seq"] for alert in first["alerts"]] == [1, 2, 3]
        assert first["next_from_seq"] == 4

        # Then paging on reads every alert
        seqs, after = [], first["next_from_seq"]
        while after is not None:
            page = json.loads(client.get(f"/v1/devices/{DEVICE}/alerts?from_seq={after}&limit=3").body)
            seqs += [alert["seq"] for alert in page["alerts"]]
            after = page["next_from_seq"]
        assert seqs == list(range(4, 11))
    finally:
        server.stop()
        reader.close()
        writer.close()
