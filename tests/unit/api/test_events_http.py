"""``GET /v1/events/{seq}`` and ``/v1/events/{seq}/evidence.jpg`` over real HTTP, on a real outbox."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.delivery.outbox import Outbox
from gateway.domain import AlertKind, Evidence
from gateway.protocol.alerts import encode_alert
from tests.unit.api.conftest import ApiFactory
from tests.unit.delivery.test_outbox import Clock, event, kind_of, open_outbox

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    clock = Clock()
    evidence = Evidence(hashlib.sha256(JPEG).hexdigest(), len(JPEG), "image/jpeg", 64, 48)
    start = dataclasses.replace(event(0), evidence=evidence)
    end = kind_of(1, AlertKind.END, start.event_id)
    # seq 1 and 2 with images, seq 3 without (an end); seq 2 and its image delivered.
    writing = open_outbox(tmp_path, clock)
    writing.append_many([start, dataclasses.replace(start, event_id="other"), end], [JPEG, JPEG, None])
    writing.mark_delivered([2], [2])
    payloads = sum(len(row.payload) for row in writing.replay(1, 3))
    writing.close()
    # Room for the alerts and one image: retention drops the delivered image, its alert stays.
    opened = open_outbox(tmp_path, clock, max_bytes=payloads + len(JPEG) + 10)
    opened.prune()
    yield opened
    opened.close()


def test_an_alert_is_served_as_stored(make_api: ApiFactory, outbox: Outbox) -> None:
    api = make_api(events=outbox)
    reply = api.get("/v1/events/1")
    assert reply.status == 200
    stored = outbox.alert(1)
    assert stored is not None
    assert reply.json() == json.loads(encode_alert(stored))
    assert reply.json()["evidence"]["sha256"] == hashlib.sha256(JPEG).hexdigest()


def test_the_evidence_image_is_the_signed_bytes_exactly(make_api: ApiFactory, outbox: Outbox) -> None:
    api = make_api(events=outbox)
    reply = api.get("/v1/events/1/evidence.jpg")
    assert reply.status == 200
    assert reply.body == JPEG
    assert reply.headers["Content-Type"] == "image/jpeg"
    digest = hashlib.sha256(reply.body).hexdigest()
    assert reply.headers["ETag"] == f'"{digest}"'
    # A client that has it already gets a 304 without the bytes.
    again = api.request("GET", "/v1/events/1/evidence.jpg", headers={"If-None-Match": f'"{digest}"'})
    assert (again.status, again.body) == (304, b"")


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/v1/events/2/evidence.jpg", 404, "was pruned at"),
        ("/v1/events/3/evidence.jpg", 404, "carries no evidence"),
        ("/v1/events/4/evidence.jpg", 404, "no alert with seq 4"),
        ("/v1/events/4", 404, "no alert with seq 4"),
        ("/v1/events/0", 400, "seq must be an integer from 1 to 9223372036854775807"),
        ("/v1/events/x1/evidence.jpg", 400, "seq must be an integer from 1 to"),
        ("/v1/events/9223372036854775808", 400, "from 1 to 9223372036854775807, got '9223372036854775808'"),
        ("/v1/events/%C2%B2", 400, "seq must be an integer from 1 to"),
        ("/v1/events/" + "9" * 5000, 400, "seq must be an integer from 1 to"),
    ],
)
def test_what_is_not_there_is_a_404_that_says_why(
    make_api: ApiFactory, outbox: Outbox, path: str, status: int, reason: str
) -> None:
    reply = make_api(events=outbox).get(path)
    assert reply.status == status
    assert reason in reply.json()["error"]


def test_a_gateway_without_an_event_log_has_no_events(make_api: ApiFactory) -> None:
    reply = make_api().get("/v1/events/1/evidence.jpg")
    assert reply.status == 404
    assert "no event log" in reply.json()["error"]
