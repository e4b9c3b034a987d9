"""``GET /v1/devices`` is paged as a device's alerts are: at most ``limit`` devices (default 100, at
most 1000) after the device id ``after``, with ``next_after`` to continue and the whole fleet's
summary on every page. It answered every device at once: a fleet of a thousand devices was one
answer of 782 KB, read and built whole for every refresh of the fleet page. A fleet no larger than
the default limit still gets one page, as before. Stores on SQLite and on a real PostgreSQL, behind
the real app on a loopback port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))


def page(server: FleetServer, query: str) -> dict[str, Any]:
    answer = server.get(f"/v1/devices?{query}")
    assert answer.status == 200, answer.body
    body: dict[str, Any] = json.loads(answer.body)
    return body


def test_devices_are_answered_page_by_page_with_the_fleets_summary(database_url: str) -> None:
    # Given five keyed devices, one with a gap (seq 2 missing) and one whose id needs escaping in a
    # query string
    odd = "box-c &after=%zz#?"
    keys = dict.fromkeys(("box-a", "box-b", odd, "box-d", "box-e"), KEY)
    chain = AlertChain("box-b", KEY)
    chain.extend(3)
    store = AuditStore.open(database_url, keys)
    try:
        store.ingest([ReceivedMessage(chain.topic, chain.payload(seq), 1_780_000_001.0) for seq in (1, 3)])
    finally:
        store.close()

    with fleet_server(database_url, keys, "token") as server:
        # When they are read two at a time, each page from the cursor the one before gave
        pages, after = [], None
        while True:
            cursor = "" if after is None else f"&after={quote(after, safe='')}"
            pages.append(page(server, f"limit=2{cursor}"))
            after = pages[-1]["next_after"]
            if after is None:
                break

        # Then every device comes once, in id order, the last page saying there is no more
        assert [[device["device_id"] for device in body["devices"]] for body in pages] == [
            ["box-a", "box-b"],
            [odd, "box-d"],
            ["box-e"],
        ]
        assert [body["next_after"] for body in pages] == ["box-b", "box-d", None]
        # And each page has the whole fleet's summary, and its devices their gaps
        assert {body["summary"]["devices"] for body in pages} == {5}
        assert {body["summary"]["missing_alerts"] for body in pages} == {1}
        assert pages[0]["devices"][1]["gaps"] == [[2, 2]]

        # And a fleet no larger than the default limit is one page, as it was
        whole = page(server, "")
        assert [device["device_id"] for device in whole["devices"]] == sorted(keys)
        assert whole["next_after"] is None


def test_the_default_page_holds_a_hundred_devices(tmp_path: Path) -> None:
    keys = {f"box-{number:03d}": KEY for number in range(150)}
    with fleet_server(f"sqlite:///{tmp_path}/audit.db", keys, "token") as server:
        first = page(server, "")
        assert len(first["devices"]) == 100
        assert first["next_after"] == "box-099"
        assert first["summary"]["devices"] == 150
        rest = page(server, "after=box-099")
        assert [device["device_id"] for device in rest["devices"]] == [
            f"box-{n:03d}" for n in range(100, 150)
        ]
        assert rest["next_after"] is None
        assert len(page(server, "limit=1000")["devices"]) == 150


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("limit=0", "limit must be an integer from 1 to 1000, got '0'"),
        ("limit=1001", "limit must be an integer from 1 to 1000, got '1001'"),
        ("limit=ten", "limit must be an integer from 1 to 1000, got 'ten'"),
        ("limit=1&limit=2", "limit is given 2 times: give it once"),
        ("after=a&after=b", "after is given 2 times: give it once"),
        ("after=", "after must be a device id (next_after of the page before), got ''"),
        ("limt=5", "unknown query parameter 'limt' (did you mean 'limit'?): /v1/devices takes after, limit"),
        ("offset=100", "unknown query parameter 'offset': /v1/devices takes after, limit"),
    ],
)
def test_a_bad_page_query_is_a_400_naming_it(tmp_path: Path, query: str, error: str) -> None:
    with fleet_server(f"sqlite:///{tmp_path}/audit.db", {"box-a": KEY}, "token") as server:
        answer = server.get(f"/v1/devices?{query}")
    assert answer.status == 400
    assert json.loads(answer.body)["error"] == error
