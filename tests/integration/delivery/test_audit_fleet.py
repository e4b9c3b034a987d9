"""Fleet state in the audit store on SQLite and a real PostgreSQL server, and the fleet routes of the
audit HTTP API over it: status ordering, counts, lag, rejections as problems, a store of schema 2
migrated, and the API's answers (a real HTTP client against a served app)."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.audit import fleet, schema
from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.store import AuditStore, Outcome, ReceivedMessage
from gateway.config import HttpConfig
from gateway.protocol.alerts import ZERO_HASH, build_alert, encode_alert, parse_timestamp
from gateway.web import login as web_login
from tests.integration.delivery.test_audit_store import execute_sql
from tests.support.audit_device import AlertChain, event

KEY = bytes(range(32))
WRONG_KEY = bytes(range(1, 33))
KEYS = {"box-a": KEY, "box-b": KEY, "box-silent": KEY}


def status(device_id: str, state: str, received_at: float) -> ReceivedMessage:
    payload = json.dumps({"state": state, "ts": "2026-01-01T00:00:00.000000Z"}).encode()
    return ReceivedMessage(f"edge/{device_id}/status", payload, received_at)


def alerts(chain: AlertChain, seqs: range | list[int], received_at: float) -> list[ReceivedMessage]:
    return [ReceivedMessage(chain.topic, chain.payload(seq), received_at) for seq in seqs]


def test_fleet_state_counts_gaps_lag_status_and_rejections(database_url: str) -> None:
    store = AuditStore.open(database_url, KEYS)
    try:
        # Given box-a: alerts 1..5 and 7 (6 missing), online then offline (its last will), and an
        # older "online" from a lagging instance arriving last; box-b: a good alert, then one signed
        # with the wrong key and one that does not link to its predecessor
        chain_a = AlertChain("box-a", KEY)
        chain_a.extend(7)
        alert_time_7 = parse_timestamp(json.loads(chain_a.payload(7))["frame_ts"])
        store.ingest(alerts(chain_a, [1, 2, 3, 4, 5, 7], alert_time_7 + 2.5))
        store.ingest([status("box-a", "online", 100.0), status("box-a", "offline", 200.0)])
        stale = store.ingest([status("box-a", "online", 150.0)])
        chain_b = AlertChain("box-b", KEY)
        chain_b.extend(1)
        forged = build_alert("box-b", 2, event(2), json.loads(chain_b.payload(1))["hash"], WRONG_KEY)
        unlinked = build_alert("box-b", 2, event(2), ZERO_HASH, KEY)
        results = store.ingest(
            [
                *alerts(chain_b, [1], alert_time_7),
                ReceivedMessage(chain_b.topic, encode_alert(forged), alert_time_7),
                ReceivedMessage(chain_b.topic, encode_alert(unlinked), alert_time_7 + 1),
            ]
        )

        # Then the store's fleet view says so, the same for any connection that reads it
        assert stale[0].outcome is Outcome.DUPLICATE
        assert [result.outcome for result in results] == [Outcome.STORED, Outcome.REJECTED, Outcome.REJECTED]
        reader = AuditStore.open(database_url, KEYS)
        try:
            devices = {device.device_id: device for device in reader.devices()}
        finally:
            reader.close()
        box_a, box_b = devices["box-a"], devices["box-b"]
        assert (box_a.status, box_a.last_seq, box_a.contiguous_seq, box_a.alerts_stored) == (
            "offline",
            7,
            5,
            6,
        )
        assert (box_a.missing_alerts, box_a.gaps) == (1, ((6, 6),))
        assert box_a.last_alert_at == pytest.approx(alert_time_7)
        assert box_a.lag_s == pytest.approx(2.5)
        assert (box_b.rejected, box_b.alerts_stored, box_b.status) == (2, 1, None)
        assert box_b.last_rejection is not None
        assert box_b.last_rejection.startswith("chain")
        assert "box-silent" not in devices  # known only to the keys file: added by the API
    finally:
        store.close()


V2_STATEMENTS = (*schema._VERSION_1, *schema._VERSION_2)


def test_a_store_of_schema_2_is_migrated_with_its_counts_and_times(database_url: str) -> None:
    # Given a store the previous release wrote (schema 2) holding alerts 1..4 of a device
    sqlite = database_url.startswith("sqlite")
    blob, serial = (
        ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT") if sqlite else ("BYTEA", "BIGSERIAL PRIMARY KEY")
    )
    for statement in V2_STATEMENTS:
        execute_sql(database_url, statement.format(blob=blob, serial=serial))
    execute_sql(database_url, "INSERT INTO audit_schema (id, version) VALUES (1, 2)")
    chain = AlertChain("box-a", KEY)
    chain.extend(4)
    for seq in range(1, 5):
        stored = json.loads(chain.payload(seq))
        execute_sql(
            database_url,
            "INSERT INTO audit_alerts (device_id, seq, hash, prev_hash, payload, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ("box-a", seq, stored["hash"], stored["prev_hash"], chain.payload(seq), 2_000_000_000.0),
        )
    execute_sql(database_url, "INSERT INTO audit_devices VALUES (?, 4, 4)", ("box-a",))

    # When this release opens it, then it is at schema 3 with the fleet columns backfilled
    store = AuditStore.open(database_url, KEYS)
    try:
        assert execute_sql(database_url, "SELECT version FROM audit_schema") == [(schema.VERSION,)]
        (device,) = store.devices()
        alert_time = parse_timestamp(json.loads(chain.payload(4))["frame_ts"])
        assert (device.alerts_stored, device.missing_alerts, device.status) == (4, 0, None)
        assert device.last_alert_at == pytest.approx(alert_time)
        assert device.lag_s == pytest.approx(2_000_000_000.0 - alert_time)
        # and it goes on counting
        chain.extend(1)
        store.ingest(alerts(chain, [5], 2_000_000_001.0))
        assert store.devices()[0].alerts_stored == 5
    finally:
        store.close()


# ---- the HTTP API ------------------------------------------------------------------------------


class Served:
    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def api(self, path: str) -> Any:
        status, body, _ = self.get(path, {"Authorization": f"Bearer {self.token}"})
        assert status == 200, body
        return json.loads(body)

    def login(self, token: str) -> tuple[int, str]:
        request = urllib.request.Request(
            self.base + "/v1/session",
            data=json.dumps({"token": token}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers["Set-Cookie"].split(";")[0]
        except urllib.error.HTTPError as error:
            return error.code, ""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path}/audit.db"
    writer = AuditStore.open(url, KEYS)
    chain = AlertChain("box-a", KEY)
    chain.extend(12, evidence=True)
    writer.ingest([*alerts(chain, range(1, 13), 2_000_000_000.0), status("box-a", "online", 1.0)])
    for seq, image in chain.images.items():
        writer.ingest([ReceivedMessage(chain.image_topic(seq), image, 2_000_000_000.0)])
    writer.close()
    token = secrets.token_urlsafe(16)
    registry = CollectorRegistry()
    reader = AuditStore.open(url, KEYS)
    server = AuditHttpServer(
        create_app(reader, http=HttpConfig(port=0), tokens=frozenset({token}), registry=registry),
        "127.0.0.1",
        0,
    )
    port = server.start()
    try:
        yield Served(port, token)
    finally:
        server.stop()
        reader.close()


def test_devices_lists_every_device_with_its_state_and_problems(served: Served) -> None:
    answer = served.api("/v1/devices")
    devices = {device["device_id"]: device for device in answer["devices"]}
    assert set(devices) == {"box-a", "box-b", "box-silent"}
    assert devices["box-a"]["state"] == "online"
    assert (devices["box-a"]["last_seq"], devices["box-a"]["missing_alerts"]) == (12, 0)
    assert devices["box-a"]["problems"] == [
        "behind: its last alert was stored 219999999 s after its alert time"
    ]
    assert devices["box-silent"]["problems"] == ["never heard from"]
    assert answer["summary"]["online"] == 1
    assert answer["summary"]["unknown"] == 2


def test_a_devices_alerts_come_in_pages_with_their_evidence_state(served: Served) -> None:
    page = served.api("/v1/devices/box-a/alerts?from_seq=4&limit=5")
    assert [entry["seq"] for entry in page["alerts"]] == [4, 5, 6, 7, 8]
    assert page["next_from_seq"] == 9
    start = page["alerts"][0]
    assert start["alert"]["kind"] == "start"
    assert start["evidence_stored"] is True
    assert page["alerts"][1]["evidence_stored"] is None  # an update names no image
    status, image, _ = served.get(
        f"/v1/devices/box-a/alerts/{start['seq']}/evidence.jpg", {"Authorization": f"Bearer {served.token}"}
    )
    assert status == 200
    assert image.startswith(b"\xff\xd8")
    assert served.api("/v1/devices/box-a/alerts?from_seq=11")["next_from_seq"] is None


def test_a_page_of_alerts_ends_where_its_bytes_do(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given pages bounded to one alert's bytes (8 MiB in service: a signed alert may be megabytes)
    monkeypatch.setattr(fleet, "PAGE_BYTES", 1)
    # Then each page holds one alert, and says where the next begins, up to the device's last
    pages = [served.api(f"/v1/devices/box-a/alerts?from_seq={seq}&limit=5") for seq in (4, 12)]
    assert [[entry["seq"] for entry in page["alerts"]] for page in pages] == [[4], [12]]
    assert [page["next_from_seq"] for page in pages] == [5, None]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/v1/devices/box-a/alerts?from_seq=0", 400, "from_seq must be an integer from 1"),
        ("/v1/devices/box-a/alerts?limit=5000", 400, "limit must be an integer from 1 to 1000"),
        ("/v1/devices/box-a/alerts?limit=ten", 400, "limit must be"),
        # Digits that only str.isdigit() takes, and more than int() will read: each was a 500.
        ("/v1/devices/box-a/alerts?from_seq=%C2%B2", 400, "from_seq must be an integer from 1"),
        ("/v1/devices/box-a/alerts?from_seq=%EF%BC%92", 400, "from_seq must be an integer from 1"),
        (f"/v1/devices/box-a/alerts?from_seq={'9' * 5000}", 400, "from_seq must be an integer from 1"),
        ("/v1/devices/box-a/alerts?limit=%C2%B2", 400, "limit must be"),
        ("/v1/devices/box-a/alerts/%C2%B2/evidence.jpg", 400, "seq must be an integer from 1 to 9"),
        (f"/v1/devices/box-a/alerts/{'9' * 5000}/evidence.jpg", 400, "seq must be an integer from 1 to 9"),
        ("/v1/devices/nobody/alerts", 404, 'no device "nobody"'),
    ],
)
def test_bad_queries_are_answered_with_the_problem(
    served: Served, path: str, status: int, words: str
) -> None:
    code, body, _ = served.get(path, {"Authorization": f"Bearer {served.token}"})
    assert code == status
    assert words in json.loads(body)["error"]


@pytest.mark.parametrize("token", ["\xff", "caf\xe9"])
def test_a_bearer_token_of_undecodable_bytes_is_refused_not_failed(served: Served, token: str) -> None:
    code, body, _ = served.get("/v1/devices", {"Authorization": f"Bearer {token}"})
    assert code == 401, body


def test_metrics_have_fleet_gauges_without_a_device_label(served: Served) -> None:
    status, body, _ = served.get("/metrics", {"Authorization": f"Bearer {served.token}"})
    text = body.decode()
    assert status == 200
    assert 'edge_gateway_fleet_devices{state="online"} 1.0' in text
    assert "edge_gateway_fleet_devices_with_problems 3.0" in text
    assert "box-a" not in text


def test_the_page_is_open_and_the_data_needs_a_token_or_a_session(served: Served) -> None:
    status, page, headers = served.get("/")
    assert status == 200
    assert b"/console/fleet.js" in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert served.get("/console/shell.js")[0] == 200  # shared with the console
    assert served.get("/v1/devices")[0] == 401
    assert served.login("wrong")[0] == 401
    code, cookie = served.login(served.token)
    assert code == 200
    assert cookie.startswith("edge_gateway_session=")
    assert served.get("/v1/devices", {"Cookie": cookie})[0] == 200


def test_the_audit_login_takes_its_limit_from_the_one_shared_definition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The audit service kept its own copy of the login limit (10 at once, then 1 a second); it takes
    # the definition the console's login takes, so a change to one is a change to both.
    monkeypatch.setattr(web_login, "ATTEMPT_BURST", 3)
    reader = AuditStore.open(f"sqlite:///{tmp_path}/audit.db", KEYS)
    token = secrets.token_urlsafe(16)
    server = AuditHttpServer(
        create_app(reader, http=HttpConfig(port=0), tokens=frozenset({token}), registry=CollectorRegistry()),
        "127.0.0.1",
        0,
    )
    served = Served(server.start(), token)
    try:
        assert [served.login("wrong")[0] for _ in range(4)] == [401, 401, 401, 429]
    finally:
        server.stop()
        reader.close()
