"""A login in another tab replaces the session the browser's cookie names, and with it the CSRF
token; the tab that still holds the old token must not be refused for it. Every state-changing call
of the shared page client (core.js) asks for the new token and is sent once more: here the logout,
on the console and on the audit service's fleet page alike (the geometry save is in
test_console_hostile_browser.py). In the real browser against the real apps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from prometheus_client import CollectorRegistry

from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.store import AuditStore
from gateway.config import HttpConfig
from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app

UI_WAIT_MS = 15_000
TOKEN = "probe-token-0123456789abcdef"
STARTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
PAUSED_AT = datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc)  # later: the clock runs from its start
CONFIG = """\
cameras:
  - id: yard
    url: rtsp://10.0.0.5/stream1
    model: person-detector
"""


def log_in(page: Page, heading: str) -> None:
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=UI_WAIT_MS)


def authenticated(page: Page) -> bool:
    state: bool = page.evaluate("async () => (await (await fetch('/v1/session')).json()).authenticated")
    return state


def log_out_after_a_login_elsewhere(context: BrowserContext, base: str, heading: str) -> Page:
    """Log in in one tab, then out and in again in a second (a new session and CSRF token); then log
    out in the first. The first tab is returned.

    The browser's clock (both tabs') is paused, so a page reads the server only when shown and when
    acted on: a refresh of the first tab's own while the second was logged out was answered 401 and
    showed the login form, with no Log out to press."""
    context.clock.install(time=STARTED_AT)
    context.clock.pause_at(PAUSED_AT)
    first = context.new_page()
    first.goto(base + "/")
    log_in(first, heading)
    second = context.new_page()
    second.goto(base + "/")
    expect(second.get_by_role("heading", name=heading)).to_be_visible(timeout=UI_WAIT_MS)
    second.get_by_role("button", name="Log out").click()
    log_in(second, heading)
    first.get_by_role("button", name="Log out").click()
    expect(first.get_by_label("API token")).to_be_visible(timeout=UI_WAIT_MS)
    return first


def test_a_console_logout_after_a_login_in_another_tab_ends_the_session(
    browser: Browser, tmp_path: Path
) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    (tmp_path / "tokens").write_text(TOKEN + "\n")
    camera = OneCamera("yard", CameraState.STREAMING, None)
    with console_app(camera, tmp_path / "gateway.yaml", tokens_file=tmp_path / "tokens") as served:
        context = browser.new_context()
        first = log_out_after_a_login_elsewhere(context, f"http://127.0.0.1:{served.port}", "Cameras")
        assert not authenticated(first), "the logout was refused: the session the browser holds lives on"
        context.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[str]:
    reader = AuditStore.open(f"sqlite:///{tmp_path}/audit.db", {})
    server = AuditHttpServer(
        create_app(reader, http=HttpConfig(port=0), tokens=frozenset({TOKEN}), registry=CollectorRegistry()),
        "127.0.0.1",
        0,
    )
    port = server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        reader.close()


def test_a_fleet_page_logout_after_a_login_in_another_tab_ends_the_session(
    browser: Browser, fleet: str
) -> None:
    context = browser.new_context()
    first = log_out_after_a_login_elsewhere(context, fleet, "Devices")
    assert not authenticated(first), "the logout was refused: the session the browser holds lives on"
    context.close()
