"""aiohttp's log of malformed requests, summarized (gateway/web/bad_requests.py): one line a minute
at most, over real HTTP, instead of a traceback per request."""

from __future__ import annotations

import logging
import re
import socket
import sys
from collections.abc import Iterator

import pytest

from gateway.web.bad_requests import INTERVAL_S, SERVER_LOGGER, BadRequestSummary
from tests.unit.api.harness import ServedApi

MALFORMED = b"POST /v2/models/affine/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def summary(api: ServedApi, clock: Clock) -> Iterator[BadRequestSummary]:
    """A fresh summary in place of the one the server installed (earlier tests moved its clock)."""
    logger = logging.getLogger(SERVER_LOGGER)
    installed = list(logger.filters)
    assert any(isinstance(existing, BadRequestSummary) for existing in installed), "serve() installs one"
    for existing in installed:
        logger.removeFilter(existing)
    fresh = BadRequestSummary(clock)
    logger.addFilter(fresh)
    yield fresh
    logger.removeFilter(fresh)
    for existing in installed:
        logger.addFilter(existing)


def send_malformed(api: ServedApi) -> bytes:
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as connection:
        connection.sendall(MALFORMED)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_malformed_requests_are_summarized_once_a_minute(
    api: ServedApi, summary: BadRequestSummary, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=SERVER_LOGGER)
    for _ in range(3):
        assert b" 400 " in send_malformed(api)[:16]
    clock.now += INTERVAL_S
    assert b" 400 " in send_malformed(api)[:16]

    records = [record for record in caplog.records if record.name == SERVER_LOGGER]
    assert [(record.levelno, record.exc_info) for record in records] == [(logging.WARNING, None)] * 2
    first, second = (record.getMessage() for record in records)
    # aiohttp names the peer from 3.12 on ("?" before); its own words name the header.
    assert re.match(
        r"1 malformed HTTP request\(s\) refused since the last such line; "
        r"the latest from (127\.0\.0\.1|\?): ",
        first,
    )
    assert "Content-Length" in first
    assert second.startswith("3 malformed HTTP request(s)"), "the two held back, and the latest"


def test_other_server_errors_keep_their_traceback(summary: BadRequestSummary) -> None:
    try:
        raise RuntimeError("a handler failed")
    except RuntimeError:
        record = logging.getLogger(SERVER_LOGGER).makeRecord(
            SERVER_LOGGER, logging.ERROR, __file__, 1, "Error handling request from %s", ("x",), None
        )
        record.exc_info = sys.exc_info()
    assert summary.filter(record)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
