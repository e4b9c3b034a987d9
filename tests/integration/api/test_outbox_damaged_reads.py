"""An outbox damaged where start-up does not read it, against a real ``Gateway`` served as ``serve``
serves it: ``/v1/status`` answered 500 with the read's error (or stayed healthy while ``/v1/events``
answered 500), and every failed request logged it again. Now each read that reaches the damage is a
503 naming it, ``/v1/status`` answers unhealthy naming the outbox, and the log says it once."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing

import pytest

from tests.integration.api.running_gateway import RunningGateway


@pytest.mark.parametrize(
    ("damage", "path", "error"),
    [
        ("DROP TABLE evidence", "/v1/events/1/evidence.jpg", "no such table: evidence"),
        ("DROP TABLE alerts", "/v1/events?limit=5", "no such table: alerts"),
    ],
)
def test_a_damaged_outbox_is_a_status_problem_and_its_reads_answer_in_words(
    running: RunningGateway, caplog: pytest.LogCaptureFixture, damage: str, path: str, error: str
) -> None:
    api, gateway = running.api, running.gateway
    assert api.get("/v1/status").json()["healthy"] is True
    # Given a table of the outbox gone behind the running gateway's back (as a hand edit or a
    # damaged page leaves it: nothing at start-up reads there)
    with closing(sqlite3.connect(gateway.outbox.path)) as other:
        other.execute(damage)
        other.commit()

    # When a client reads what is gone twice, then asks for the status
    with caplog.at_level(logging.ERROR):
        replies = [api.get(path) for _ in range(2)]
        status = api.get("/v1/status")

    # Then each read is a 503 naming the outbox's error, not an internal error
    for reply in replies:
        assert reply.status == 503, reply.body
        assert reply.headers["Retry-After"] == "5"
        answer = reply.json()["error"]
        assert answer.startswith("the outbox cannot be read: outbox "), answer
        assert error in answer
    # And the status answers, unhealthy, naming the outbox and its error
    assert status.status == 200, status.body
    body = status.json()
    assert body["healthy"] is False
    (problem,) = body["problems"]
    assert problem.startswith("outbox reads fail since "), problem
    assert "3 reads failed" in problem
    assert error in problem
    assert body["outbox"] == {"stored": None, "pending": None}
    # And the log says it once, however many requests met it
    logged = [record for record in caplog.records if error in record.getMessage()]
    assert len(logged) == 1, [record.getMessage() for record in logged]
    assert logged[0].name == "gateway.pipeline.outbox_read_failures"
