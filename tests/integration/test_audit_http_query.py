"""A query parameter of the audit HTTP API given twice, or one it does not take, is a 400 naming it.
``from_seq=1&from_seq=3`` answered from 1, the first, as if that were all that was asked: a client
that built its query by appending got another page than it asked for, and nothing said so; a
misspelt ``form_seq=3`` answered from 1 as well. The gateway's ``/v1/events`` answers the same way.
A store on SQLite behind the real app on a loopback port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.fleet_server import fleet_server

KEY = bytes(range(32))
DEVICE = "box-1"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("from_seq=1&from_seq=3", "from_seq is given 2 times: give it once"),
        ("limit=1&limit=2&limit=3", "limit is given 3 times: give it once"),
        ("from_seq=2&limit=1&limit=1", "limit is given 2 times: give it once"),
        (
            "form_seq=3",
            "unknown query parameter 'form_seq' (did you mean 'from_seq'?): "
            "/v1/devices/{id}/alerts takes from_seq, limit, since, until",
        ),
        (
            "limit=1&after=3",
            "unknown query parameter 'after': /v1/devices/{id}/alerts takes from_seq, limit, since, until",
        ),
        ("since=2026-12-04T22:00:00Z&since=2026-12-04T23:00:00Z", "since is given 2 times: give it once"),
        ("since=3", "since must be a time such as 2026-12-04T22:00:00Z, got '3'"),
        (
            "until=2026-12-04T22:00:00",
            "until must name its time zone (2026-12-04T22:00:00Z, or +01:00), got '2026-12-04T22:00:00'",
        ),
        (
            "since=2026-12-04T22:00:00Z&until=2026-12-04T22:00:00%2B00:00",
            "until must be later than since, got since='2026-12-04T22:00:00Z', "
            "until='2026-12-04T22:00:00+00:00'",
        ),
    ],
)
def test_a_repeated_or_unknown_query_parameter_is_refused_by_name(
    tmp_path: Path, query: str, error: str
) -> None:
    # Given a device with three alerts stored
    url = f"sqlite:///{tmp_path}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    chain.extend(3)
    store = AuditStore.open(url, {DEVICE: KEY})
    try:
        store.ingest([ReceivedMessage(chain.topic, payload, 1_780_000_001.0) for payload in chain.payloads])
    finally:
        store.close()

    with fleet_server(url, {DEVICE: KEY}, "token") as server:
        # When a parameter is given more than once, or one it does not take, then it is a 400 naming it
        answer = server.get(f"/v1/devices/{DEVICE}/alerts?{query}")
        assert answer.status == 400
        assert json.loads(answer.body)["error"] == error

        # And given once each, the same parameters still work
        answer = server.get(f"/v1/devices/{DEVICE}/alerts?from_seq=3&limit=1")
        assert answer.status == 200
        assert [alert["seq"] for alert in json.loads(answer.body)["alerts"]] == [3]
