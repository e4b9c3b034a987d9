"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer
from tests.support.serve import Process


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Gateway and audit processes a test started; any still running at its end are killed."""
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server per test module; each test that needs a store takes a database of its own."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()
