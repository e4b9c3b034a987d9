"""``GET /v1/devices/{id}/alerts?since=&until=`` on SQLite and a real PostgreSQL: a device's alerts of
an hour, read by the alert time the store keeps beside each alert (schema version 8), paged with
``next_from_seq`` that ends where the matching alerts end; and a store of version 7, whose alerts
have no such time, given it from their payloads when this release opens it, as are the alerts an
older release stored without it beside this one.

Without it an auditor asking for last night's alerts of one device paged through its whole history
by seq, and the audit store could answer "when" only by reading every payload."""

from __future__ import annotations

import json
import urllib.parse

from gateway.audit import schema
from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.protocol.alerts import format_timestamp
from tests.integration.test_audit_schema_versions import execute_sql
from tests.support.audit_device import AlertChain
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
DEVICE = "box-1"
FIRST_ALERT_AT = 1_780_000_000.0
"""``AlertChain``'s alert ``seq`` is at ``FIRST_ALERT_AT + seq / 10``."""


def at(seq: int) -> str:
    """The time of alert ``seq``, as a query writes it (its ``+`` escaped)."""
    return urllib.parse.quote(format_timestamp(FIRST_ALERT_AT + seq / 10))


def store_alerts(url: str, chain: AlertChain, count: int) -> None:
    chain.extend(count)
    store = AuditStore.open(url, {DEVICE: KEY})
    try:
        store.ingest(
            [ReceivedMessage(chain.topic, payload, FIRST_ALERT_AT + 5) for payload in chain.payloads]
        )
    finally:
        store.close()


def pages(server: FleetServer, query: str) -> list[list[int]]:
    """The seqs of each page the listing answers ``query`` with, following ``next_from_seq``."""
    seen: list[list[int]] = []
    path = f"/v1/devices/{DEVICE}/alerts?{query}"
    while True:
        answer = server.get(path)
        assert answer.status == 200, answer.body
        body = json.loads(answer.body)
        seen.append([alert["seq"] for alert in body["alerts"]])
        if body["next_from_seq"] is None:
            return seen
        path = f"/v1/devices/{DEVICE}/alerts?{query}&from_seq={body['next_from_seq']}"


def test_a_devices_alerts_are_read_by_their_time(database_url: str) -> None:
    # Given a device with 30 alerts stored, a tenth of a second apart
    store_alerts(database_url, AlertChain(DEVICE, KEY), 30)

    with fleet_server(database_url, {DEVICE: KEY}, "token") as server:
        # When alerts 10 to 19's times are asked for, then those come, since inclusive, until
        # exclusive, and the last page says it is the last though the device has more alerts
        assert pages(server, f"since={at(10)}&until={at(20)}&limit=4") == [
            [10, 11, 12, 13],
            [14, 15, 16, 17],
            [18, 19],
        ]
        # And either bound alone, in another zone written as a query would send it unescaped
        later = format_timestamp(FIRST_ALERT_AT + 2.75).replace("Z", "+00:00")
        assert pages(server, f"since={later}&limit=100") == [list(range(28, 31))]
        assert pages(server, f"until={at(3)}") == [[1, 2]]
        # And a range no alert lies in is one empty page
        assert pages(server, f"since={at(40)}") == [[]]
        # And from_seq still bounds the seqs read within the range
        assert pages(server, f"since={at(10)}&until={at(20)}&from_seq=17") == [[17, 18, 19]]


def test_a_store_of_version_7_is_given_its_alert_times_when_opened(database_url: str) -> None:
    # Given a store as version 7 left it: its alerts without their time
    store_alerts(database_url, AlertChain(DEVICE, KEY), 12)
    execute_sql(database_url, "DROP INDEX audit_alerts_alert_at")
    execute_sql(database_url, "DROP INDEX audit_alerts_without_time")
    execute_sql(database_url, "ALTER TABLE audit_alerts DROP COLUMN alert_at")
    execute_sql(database_url, "UPDATE audit_schema SET version = 7")
    sqlite = database_url.startswith("sqlite:")
    assert (
        schema.layout(
            lambda sql, parameters: execute_sql(database_url, sql, tuple(parameters)), sqlite=sqlite
        )
        == 7
    )

    # When this release opens it, then each alert has its time, and the listing reads by it
    with fleet_server(database_url, {DEVICE: KEY}, "token") as server:
        assert pages(server, f"since={at(5)}&until={at(8)}") == [[5, 6, 7]]
    assert execute_sql(database_url, "SELECT COUNT(*) FROM audit_alerts WHERE alert_at IS NULL") == [(0,)]
    assert execute_sql(database_url, "SELECT version FROM audit_schema") == [(schema.VERSION,)]


def test_alerts_an_older_release_stored_without_their_time_are_given_it(database_url: str) -> None:
    # Given a store of this release into which a version 7 release, writing its version back,
    # stored alerts without their time
    store_alerts(database_url, AlertChain(DEVICE, KEY), 6)
    execute_sql(database_url, "UPDATE audit_alerts SET alert_at = NULL WHERE seq > 3")
    execute_sql(database_url, "UPDATE audit_schema SET version = 7")

    # When this release opens it again, then they are found by their time too
    with fleet_server(database_url, {DEVICE: KEY}, "token") as server:
        assert pages(server, f"since={at(2)}") == [[2, 3, 4, 5, 6]]


def test_alerts_an_older_release_stored_beside_this_one_are_given_their_time_at_the_next_open(
    database_url: str,
) -> None:
    # Given a store of this release into which a version 7 release, running beside it in a rolling
    # upgrade, stored alerts without their time (and left the store's version as it found it)
    store_alerts(database_url, AlertChain(DEVICE, KEY), 6)
    execute_sql(database_url, "UPDATE audit_alerts SET alert_at = NULL WHERE seq > 3")

    # When this release opens it again, then they are found by their time too
    with fleet_server(database_url, {DEVICE: KEY}, "token") as server:
        assert pages(server, f"since={at(2)}") == [[2, 3, 4, 5, 6]]
    assert execute_sql(database_url, "SELECT COUNT(*) FROM audit_alerts WHERE alert_at IS NULL") == [(0,)]
