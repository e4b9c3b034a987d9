"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.serve import Process


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Gateway and audit processes a test started; any still running at its end are killed."""
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()
