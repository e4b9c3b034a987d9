"""The fleet pages' status line in a real browser (Debian's chromium) is an error only while it is one.

A refresh that failed (the audit service unreachable, a 503) styled the status line as an error, and
the refreshes that succeeded after it changed its text but not its style: "Alerts 1 to 3, newest
first." and the devices' count stayed red, as if the service were still failing. Here one refresh
is answered 503 by the browser's own route, the next goes through to the real audit HTTP API over
a SQLite store.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import (
    UNAVAILABLE,
    FleetServer,
    fail_one_refresh,
    fleet_server,
    logged_in_page,
)

KEY = bytes(range(32))
DEVICE = "box-status"
ALERTS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-status-after-error")
    url = f"sqlite:///{directory}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    store = AuditStore.open(url, {DEVICE: KEY})
    store.ingest([ReceivedMessage(chain.topic, payload, 1_780_000_001.0) for payload in chain.extend(ALERTS)])
    store.close()
    with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as served:
        yield served


def test_the_device_page_status_is_no_error_once_a_refresh_succeeds(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{DEVICE}", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")

    # Given one refresh of the device answered 503
    fail_one_refresh(page, f"**/v1/devices/{DEVICE}")
    expect(status).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(status).to_have_class("error")

    # When the next refresh succeeds, then its text is shown, and not as an error
    expect(status).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")
    assert errors == []


def test_the_devices_list_status_is_no_error_once_a_refresh_succeeds(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, "devices", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_contain_text("1 device:", timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")

    # Given one refresh of the list answered 503
    fail_one_refresh(page, "**/v1/devices?**")
    expect(status).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(status).to_have_class("error")

    # When the next refresh succeeds, then the count is shown, and not as an error
    expect(status).to_contain_text("1 device:", timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")
    assert errors == []


def test_a_device_missing_after_a_failed_refresh_is_no_error(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, "device/box-unknown", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_have_text("No device box-unknown in the audit log.", timeout=UI_WAIT_MS)

    # Given one refresh answered 503, when the next answers 404 as before, then that is no error
    fail_one_refresh(page, "**/v1/devices/box-unknown")
    expect(status).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(status).to_have_class("error")
    expect(status).to_have_text("No device box-unknown in the audit log.", timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")
    assert errors == []
