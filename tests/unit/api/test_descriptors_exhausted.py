"""Running out of file descriptors while the API serves: found by the API's look once a second (uvloop's
accept fails silently), logged once when it begins and once when it ends, and a ``/v1/status`` problem
while it lasts (gateway/api/connection_limit.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
import uvloop
from prometheus_client import CollectorRegistry

from gateway.api import connection_limit
from gateway.api.app import create_app
from gateway.api.context import CONTEXT
from gateway.config import AdmissionConfig, HttpConfig
from tests.support.descriptors import every_descriptor_taken
from tests.unit.api.fakes import FakeBackend
from tests.unit.api.harness import ServedApi
from tests.unit.test_decider import wait_until

RECENT_S = 1.5
"""Shortened for the test, and still longer than the second between two looks (``LOOK_INTERVAL_S``):
shorter, the problem lapsed between looks and the status read between them said nothing."""
OUT_OF_THEM = "out of file descriptors"


@pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_running_out_is_logged_once_and_a_status_problem_while_it_lasts(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(connection_limit, "RECENT_S", RECENT_S)
    backend = FakeBackend()
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=None,
        events=None,
        registry=CollectorRegistry(),
    )
    api = ServedApi(app, loop_factory)
    connections = app[CONTEXT].connections
    try:
        assert connections.problems() == []
        caplog.set_level(logging.INFO, logger=connection_limit.__name__)
        with every_descriptor_taken():
            # Given three looks (a second apart) at a process out of descriptors
            found = wait_until(lambda: any(OUT_OF_THEM in problem for problem in connections.problems()), 10)
            time.sleep(2.0)
            problems = connections.problems()
        assert found
        assert any(OUT_OF_THEM in problem for problem in problems), problems
        began = [record for record in caplog.records if OUT_OF_THEM in record.getMessage()]
        assert len(began) == 1, [record.getMessage() for record in began]
        assert "Too many open files" in began[0].getMessage()
        # Once descriptors are free again, the problem goes and the end is logged once
        assert wait_until(lambda: connections.problems() == [], RECENT_S + 2.5)
        assert wait_until(lambda: "can be opened again" in caplog.text, RECENT_S + 2.5)
        assert api.get("/v2/health/live").status == 200
    finally:
        api.close()
        backend.close()
