"""The fleet's device page in a real browser (Debian's chromium) shows nothing of a device that is gone.

A device shown whose next refresh answered 404 (removed from the keys file and the store) was said to
be missing, "No device ... in the audit log.", while its summary, its alert cards and the button to
older alerts stayed under that line, as if it were still there. Here the 404 is the browser's own
route; before and after it the page reads the real audit HTTP API over a SQLite store.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import FleetServer, fleet_server, logged_in_page

KEY = bytes(range(32))
DEVICE = "box-gone"
PAGE = 50
ALERTS = PAGE + 1
"""One more than a page holds, so that the page offers older alerts."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FleetServer]:
    url = f"sqlite:///{tmp_path}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    store = AuditStore.open(url, {DEVICE: KEY})
    store.ingest([ReceivedMessage(chain.topic, payload, 1_780_000_001.0) for payload in chain.extend(ALERTS)])
    store.close()
    with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as served:
        yield served


def test_a_device_gone_leaves_nothing_of_it_shown(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{DEVICE}", errors)
    status = page.locator("main p[role=status]")
    summary = page.locator("main h1 + div")
    facts = summary.locator("dl.facts")
    cards = page.locator("main ol.events > li")
    older = page.get_by_role("button", name="Older alerts")
    expect(status).to_have_text(f"Alerts 2 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(facts).to_have_count(1)
    expect(cards).to_have_count(PAGE)
    expect(older).to_be_visible()

    # Given the device is gone: its refreshes answer 404
    def gone(route: Route) -> None:
        route.fulfill(status=404, json={"error": f"no device {DEVICE}"})

    page.route(f"**/v1/devices/{DEVICE}", gone)

    # Then the page says so, and shows nothing it showed for the device
    expect(status).to_have_text(f"No device {DEVICE} in the audit log.", timeout=UI_WAIT_MS)
    expect(summary).to_be_empty()
    expect(cards).to_have_count(0)
    expect(older).to_be_hidden()

    # When the device is there again, then its page is shown again from its newest alerts
    page.unroute(f"**/v1/devices/{DEVICE}")
    expect(status).to_have_text(f"Alerts 2 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(facts).to_have_count(1)
    expect(cards).to_have_count(PAGE)
    expect(older).to_be_visible()
    assert errors == []
