"""The audit service's evidence path against real parts: the subscriber on a real mosquitto asking a
device to replay an image that never arrived, and the audit HTTP API serving images over real HTTP
with the gateway's token rules."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.audit.verify import verify_store
from gateway.cli import main
from gateway.config import HttpConfig
from gateway.errors import ConfigError
from tests.integration.delivery.test_audit_store import execute_sql
from tests.integration.delivery.test_audit_subscriber import (
    DEVICE,
    KEY,
    KEYS,
    Running,
    audit_config,
    start,
    wait_for_stored,
)
from tests.support.audit_device import AlertChain, MqttDevice, wait_until
from tests.support.flipped_bit import flip_type_bit
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import PostgresServer

TOKEN = "s3cret-token-for-the-audit-api"


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(f"{DEVICE}: {KEY.hex()}\n")
    return path


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for subscriber in started:
        subscriber.close()


def test_an_image_that_never_arrived_is_asked_for_and_replayed(
    broker: Mosquitto, keys_file: Path, tmp_path: Path, running: list[Running]
) -> None:
    database = f"sqlite:///{tmp_path}/audit.db"
    subscriber = start(running, audit_config(broker.url, database, keys_file, replay_after_s=0.3))
    chain = AlertChain(DEVICE, KEY)
    chain.extend(9, evidence=True)
    device = MqttDevice(broker.url, chain)
    try:
        # Given every alert published, but the image of seq 4 lost on the way
        device.publish(range(1, 10), without_images=frozenset({4}))
        wait_for_stored(database, 9)

        # Then the subscriber asks for seq 4 and the device's replay brings its image
        def complete() -> bool:
            checker = AuditStore.open(database, KEYS)
            try:
                return checker.progress()[0].evidence_missing == 0
            finally:
                checker.close()

        wait_until(complete, timeout_s=20)
        assert (4, 4) in device.replay_requests
        assert (
            subscriber.registry.get_sample_value("edge_gateway_audit_evidence_total", {"outcome": "stored"})
            == 3
        )
        checker = AuditStore.open(database, KEYS)
        try:
            report = verify_store(checker, KEYS)
            assert report.ok, report.render()
            assert report.devices[0].evidence_checked == 3
        finally:
            checker.close()
    finally:
        device.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


def test_a_device_upgraded_mid_stream_v1_then_v2_alerts_are_stored_and_verify(
    broker: Mosquitto,
    keys_file: Path,
    database: str,
    running: list[Running],
    capsys: pytest.CaptureFixture[str],
) -> None:
    start(running, audit_config(broker.url, database, keys_file))
    # Given a device that published alert v1, then was upgraded and went on with alert v2 (its
    # starts carrying evidence) in the same chain
    chain = AlertChain(DEVICE, KEY)
    chain.extend(6, schema_version=1)
    chain.extend(6, evidence=True)
    device = MqttDevice(broker.url, chain)
    try:
        device.publish(range(1, 13))
        wait_for_stored(database, 12)
    finally:
        device.close()

    # Then audit verify passes on the store, images included
    def verified() -> bool:
        return main(["audit", "verify", "--db", database, "--keys", str(keys_file)]) == 0

    wait_until(verified, timeout_s=20)
    assert f"{DEVICE}: 12 alerts, seq 1..12, signatures checked: ok (2 evidence images checked)" in (
        capsys.readouterr().out
    )


class Served:
    """The audit HTTP app on a free loopback port over its own store connection."""

    def __init__(self, database: str, tokens: frozenset[str] = frozenset()) -> None:
        self.store = AuditStore.open(database, KEYS)
        self.server = AuditHttpServer(
            create_app(self.store, http=HttpConfig(), tokens=tokens), "127.0.0.1", 0
        )
        self.port = self.server.start()

    def get(self, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def close(self) -> None:
        self.server.stop()
        self.store.close()


@pytest.fixture
def filled(tmp_path: Path) -> tuple[str, AlertChain]:
    database = f"sqlite:///{tmp_path}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    chain.extend(6, evidence=True)
    store = AuditStore.open(database, KEYS)
    try:
        messages = [ReceivedMessage(chain.topic, chain.payload(seq), 1.0) for seq in range(1, 7)]
        store.ingest([*messages, ReceivedMessage(chain.image_topic(1), chain.images[1], 1.0)])
    finally:
        store.close()
    return database, chain


def test_the_audit_api_serves_the_image_its_signed_alert_names(filled: tuple[str, AlertChain]) -> None:
    database, chain = filled
    served = Served(database, frozenset({TOKEN}))
    try:
        path = f"/v1/devices/{DEVICE}/alerts/1/evidence.jpg"
        status, headers, body = served.get(path, TOKEN)
        assert (status, body, headers["Content-Type"]) == (200, chain.images[1], "image/jpeg")
        assert headers["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'
        # The gateway's token rules: no token or a wrong one is a 401
        assert served.get(path)[0] == 401
        assert served.get(path, "wrong")[0] == 401
        # What is not there says why
        for wanted, status_code, reason in [
            (f"/v1/devices/{DEVICE}/alerts/4/evidence.jpg", 404, "has not arrived"),
            (f"/v1/devices/{DEVICE}/alerts/2/evidence.jpg", 404, "carries no evidence"),
            (f"/v1/devices/{DEVICE}/alerts/99/evidence.jpg", 404, "no alert 99"),
            ("/v1/devices/other/alerts/1/evidence.jpg", 404, 'no alert 1 of device "other"'),
            (f"/v1/devices/{DEVICE}/alerts/x/evidence.jpg", 400, "seq must be an integer from 1 to"),
        ]:
            status, _, body = served.get(wanted, TOKEN)
            assert status == status_code, wanted
            assert reason in json.loads(body)["error"], body
    finally:
        served.close()
    # An image edited in the store is never served as genuine
    execute_sql(
        database, "UPDATE audit_evidence SET data = ? WHERE seq = 1", (chain.images[1][:-1] + b"\x00",)
    )
    served = Served(database)
    try:
        status, _, body = served.get(f"/v1/devices/{DEVICE}/alerts/1/evidence.jpg")
        assert status == 409
        assert "audit verify" in json.loads(body)["error"]
    finally:
        served.close()


def test_without_tokens_the_audit_api_binds_loopback_only(filled: tuple[str, AlertChain]) -> None:
    database, _ = filled
    store = AuditStore.open(database, KEYS)
    try:
        with pytest.raises(ConfigError, match=r"set http\.tokens_file"):
            create_app(store, http=HttpConfig(host="0.0.0.0"))
    finally:
        store.close()


def test_an_alert_read_back_as_text_is_a_503_in_words_not_a_500(filled: tuple[str, AlertChain]) -> None:
    # Given: one bit of a record's header flipped, so SQLite reads a BLOB back as TEXT (the fuzzing
    # of damaged stores); the API's bytes() of it raised a TypeError, answered 500
    database, _ = filled
    flip_type_bit(
        Path(database.removeprefix("sqlite:///")),
        "UPDATE audit_alerts SET payload = CAST(payload AS TEXT) WHERE seq = 1",
    )
    served = Served(database)
    try:
        status, _, body = served.get(f"/v1/devices/{DEVICE}/alerts?from_seq=1")
    finally:
        served.close()
    # Then: the store's damage, named, with what to run
    assert status == 503
    assert (
        f"of {DEVICE} seq 1 is stored as TEXT, not a BLOB: the store is damaged (run audit verify)"
        in (json.loads(body)["error"])
    )
