"""An error met on every poll is logged once per cause: again after a success or another cause."""

from __future__ import annotations

import logging

import pytest

from gateway.audit.log_once import OncePerCause

logger = logging.getLogger("tests.log_once")


def test_an_error_is_logged_once_per_cause_and_again_after_a_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = OncePerCause(logger, "audit: cannot read")
    with caplog.at_level(logging.ERROR, logger="tests.log_once"):
        # Given the same error on three polls, another one, then the first again
        for cause in ("down", "down", "down", "locked", "down"):
            failures.failed(OSError(cause))
        # And, after a success, the first again
        failures.succeeded()
        failures.failed(OSError("down"))
    assert [record.getMessage() for record in caplog.records] == [
        "audit: cannot read: down",
        "audit: cannot read: locked",
        "audit: cannot read: down",
        "audit: cannot read: down",
    ]
