"""An evidence image changed on disk after its commit is refused, not served under the signed digest.

The gateway served the stored bytes with the alert's digest as ``ETag`` and an immutable cache header,
though one byte had changed, and logged nothing; the audit service hashes again before serving and
answers a mismatch 409. Real HTTP, a real outbox whose file is edited as a disk fault or a hand would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from gateway.delivery.outbox import DATABASE_NAME, Outbox
from gateway.domain import Evidence
from tests.unit.api.conftest import ApiFactory
from tests.unit.delivery.test_outbox import Clock, event, open_outbox

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    # Given seq 1, a start alert whose image is JPEG, and then one byte of that stored image changed
    clock = Clock()
    evidence = Evidence(hashlib.sha256(JPEG).hexdigest(), len(JPEG), "image/jpeg", 64, 48)
    writing = open_outbox(tmp_path, clock)
    writing.append_many([dataclasses.replace(event(0), evidence=evidence)], [JPEG])
    writing.close()
    altered = bytearray(JPEG)
    altered[len(altered) // 2] ^= 0xFF
    with closing(sqlite3.connect(tmp_path / DATABASE_NAME)) as other:
        other.execute("UPDATE evidence SET data = ? WHERE seq = 1", (bytes(altered),))
        other.commit()
    opened = open_outbox(tmp_path, clock)
    yield opened
    opened.close()


def test_an_image_that_no_longer_matches_its_alert_is_a_conflict_logged_once(
    make_api: ApiFactory, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    api = make_api(events=outbox)
    # When it is asked for twice, once as a browser that has the genuine image cached would
    digest = hashlib.sha256(JPEG).hexdigest()
    with caplog.at_level(logging.ERROR):
        replies = [
            api.get("/v1/events/1/evidence.jpg"),
            api.request("GET", "/v1/events/1/evidence.jpg", headers={"If-None-Match": f'"{digest}"'}),
        ]

    # Then both are 409 saying so, as the audit service answers, and neither carries the digest
    for reply in replies:
        assert reply.status == 409, reply.body
        assert (
            "the stored evidence of alert 1 does not match the digest its signed alert names"
            in (reply.json()["error"])
        )
        assert "ETag" not in reply.headers
        assert "immutable" not in reply.headers.get("Cache-Control", "")
    # And the log names it once, with both digests
    (logged,) = [record for record in caplog.records if "evidence of alert 1" in record.getMessage()]
    assert logged.levelno == logging.ERROR
    assert digest in logged.getMessage()
