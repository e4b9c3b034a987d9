"""Every answer of the audit service's API carries ``X-Content-Type-Options: nosniff``, and those
carrying alerts or the fleet's state ``Cache-Control: no-store``, errors (a 401, a 404) and
``/metrics`` included: only the fleet page's assets and the evidence images had ``nosniff``. An
evidence image keeps its own caching (its bytes never change under its digest). The real audit HTTP
API over a SQLite store."""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
DEVICE = "box-east"
NO_STORE = ("/v1/devices", "/v1/fleet", f"/v1/devices/{DEVICE}", f"/v1/devices/{DEVICE}/alerts?from_seq=1",
            f"/v1/devices/{DEVICE}/alerts?from_seq=x", "/v1/devices/nobody", "/v1/status", "/metrics",
            "/v1/session", "/v1/nothing")  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("audit-answer-headers")
    url = f"sqlite:///{directory}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    chain.extend(1, evidence=True)
    store = AuditStore.open(url, {DEVICE: KEY})
    store.ingest(
        [ReceivedMessage(chain.topic, chain.payload(1), 1_780_000_001.0)]
        + [
            ReceivedMessage(chain.image_topic(seq), image, 1_780_000_001.0)
            for seq, image in chain.images.items()
        ]
    )
    store.close()
    with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as served:
        yield served


@pytest.mark.parametrize("path", NO_STORE)
def test_an_answer_of_alerts_state_or_an_error_is_nosniff_and_no_store(
    server: FleetServer, path: str
) -> None:
    answer = server.get(path)
    assert (answer.headers.get("X-Content-Type-Options"), answer.headers.get("Cache-Control")) == (
        "nosniff",
        "no-store",
    ), (answer.status, answer.headers)


def test_an_answer_refused_for_want_of_a_token_is_nosniff_and_no_store(server: FleetServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.base}/v1/devices", timeout=10)
    refused.value.close()
    assert refused.value.code == 401
    headers = refused.value.headers
    assert (headers["X-Content-Type-Options"], headers["Cache-Control"]) == ("nosniff", "no-store")


@pytest.mark.parametrize(
    ("path", "caching"),
    [
        (f"/v1/devices/{DEVICE}/alerts/1/evidence.jpg", "private, max-age=31536000, immutable"),
        ("/", "no-cache"),
    ],
)
def test_an_image_or_an_asset_keeps_its_own_caching(server: FleetServer, path: str, caching: str) -> None:
    answer = server.get(path)
    assert answer.status == 200
    assert (answer.headers["X-Content-Type-Options"], answer.headers["Cache-Control"]) == ("nosniff", caching)
