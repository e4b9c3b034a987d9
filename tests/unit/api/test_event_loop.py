"""gateway.api.event_loop: uvloop when it is installed, asyncio's loop (said in the log) when not."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from gateway.api import event_loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_runs_on_uvloop_when_it_is_installed(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("uvloop")
    caplog.set_level(logging.INFO, logger=event_loop.__name__)
    assert event_loop.loop_name() == "uvloop"
    assert event_loop.run(_loop_module()) == "uvloop"
    assert "event loop: uvloop" in caplog.text


def test_falls_back_to_asyncio_and_says_so_without_uvloop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a Python where ``import uvloop`` fails (None in sys.modules makes the import raise)
    monkeypatch.setitem(sys.modules, "uvloop", None)
    caplog.set_level(logging.INFO, logger=event_loop.__name__)
    # When the gateway runs its main coroutine
    result = event_loop.run(_loop_module())
    # Then it runs on asyncio's own loop, and the log says why
    assert result == "asyncio"
    assert event_loop.loop_name() == "asyncio"
    assert "uvloop is not installed" in caplog.text


def test_asyncio_when_uvloop_is_not_wanted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=event_loop.__name__)
    assert event_loop.run(_loop_module(), prefer_uvloop=False) == "asyncio"
    assert "uvloop" not in caplog.text


def test_returns_the_coroutine_result_and_raises_its_error() -> None:
    async def fail() -> None:
        raise ValueError("from the coroutine")

    with pytest.raises(ValueError, match="from the coroutine"):
        event_loop.run(fail())
