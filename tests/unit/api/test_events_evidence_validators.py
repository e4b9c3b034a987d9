"""``If-None-Match`` on ``/v1/events/{seq}/evidence.jpg`` as RFC 9110 writes it, over real HTTP on a real
outbox: a list of tags, a weak tag and ``*`` name the image a client holds (a 304 without the bytes),
where only one exact strong tag did; tags that name another image still get the bytes."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.delivery.outbox import Outbox
from gateway.domain import Evidence
from tests.unit.api.conftest import ApiFactory
from tests.unit.delivery.test_outbox import Clock, event, open_outbox

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
DIGEST = hashlib.sha256(JPEG).hexdigest()
OTHER = '"' + "0" * 64 + '"'


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    evidence = Evidence(DIGEST, len(JPEG), "image/jpeg", 32, 24)
    opened = open_outbox(tmp_path, Clock())
    opened.append_many([dataclasses.replace(event(0), evidence=evidence)], [JPEG])
    yield opened
    opened.close()


@pytest.mark.parametrize(
    "condition",
    [
        f'{OTHER}, "{DIGEST}"',
        f'W/"{DIGEST}"',
        f'  "{DIGEST}"  ',
        "*",
    ],
)
def test_a_condition_naming_the_image_is_a_304_without_the_bytes(
    make_api: ApiFactory, outbox: Outbox, condition: str
) -> None:
    api = make_api(events=outbox)
    reply = api.request("GET", "/v1/events/1/evidence.jpg", headers={"If-None-Match": condition})
    assert (reply.status, reply.body) == (304, b"")
    assert reply.headers["ETag"] == f'"{DIGEST}"'


@pytest.mark.parametrize("condition", [OTHER, f"{OTHER}, W/{OTHER}", DIGEST, ""])
def test_a_condition_naming_another_image_gets_the_bytes(
    make_api: ApiFactory, outbox: Outbox, condition: str
) -> None:
    api = make_api(events=outbox)
    reply = api.request("GET", "/v1/events/1/evidence.jpg", headers={"If-None-Match": condition})
    assert (reply.status, reply.body) == (200, JPEG)
