"""A start alert committed without evidence (evidence off, or its frame not held or encoded in time)
is a 404 that says so, not one claiming that start alerts carry none. Real HTTP, a real outbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.delivery.outbox import Outbox
from gateway.domain import AlertKind
from tests.unit.api.conftest import ApiFactory
from tests.unit.delivery.test_outbox import Clock, event, kind_of, open_outbox


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    opened = open_outbox(tmp_path, Clock())
    # seq 1: a start without evidence; seq 2: an instant without; seq 3: the start's end
    start = kind_of(0, AlertKind.START, "a")
    opened.append_many([start, kind_of(1, AlertKind.INSTANT, "b"), kind_of(2, AlertKind.END, "a")])
    assert event(0).evidence is None
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("seq", "reason"),
    [
        (1, "alert 1 (start) was committed without evidence"),
        (2, "alert 2 (instant) was committed without evidence"),
        (3, "alert 3 (end) carries no evidence: only start and instant alerts do"),
    ],
)
def test_an_alert_without_an_image_says_why(
    make_api: ApiFactory, outbox: Outbox, seq: int, reason: str
) -> None:
    reply = make_api(events=outbox).get(f"/v1/events/{seq}/evidence.jpg")
    assert reply.status == 404
    assert reason in reply.json()["error"]
