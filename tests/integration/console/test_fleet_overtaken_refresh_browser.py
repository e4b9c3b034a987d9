"""A device's page in a real browser (Debian's chromium) draws only the answer to its latest request.

Clicking "Older alerts" while the background refresh was on its way ran two refreshes at once: when
the background one's answer came back last, the newest alerts it held were drawn over the older
page the click asked for, until the next refresh two seconds later. Here the background refresh's
alerts request is held back until the click's page is shown, then let go. The real audit HTTP API
over a SQLite store filled as the subscriber fills it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import RECORD_STATUS_TEXTS, FleetServer, fleet_server, logged_in_page
from tests.support.held_requests import held_route, hold_the_first

KEY = bytes(range(32))
DEVICE = "box-many"
ALERTS = 60  # more than the page's 50: "Older alerts" shows seqs 1 to 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-overtaken")
    url = f"sqlite:///{directory}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    store = AuditStore.open(url, {DEVICE: KEY})
    store.ingest([ReceivedMessage(chain.topic, payload, 1_780_000_001.0) for payload in chain.extend(ALERTS)])
    store.close()
    with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as served:
        yield served


def test_an_older_answer_is_not_drawn_over_the_page_a_click_asked_for(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{DEVICE}", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_have_text(f"Alerts 11 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)

    # Given the background refresh's alerts request held on its way
    held = hold_the_first(page, f"**/v1/devices/{DEVICE}/alerts?**")
    background = held_route(page, held, "the background refresh's alerts request")
    page.evaluate(RECORD_STATUS_TEXTS)

    # When "Older alerts" is clicked and its page is shown, and then the held answer comes back
    page.get_by_role("button", name="Older alerts").click()
    expect(status).to_have_text("Alerts 1 to 10, newest first.", timeout=UI_WAIT_MS)
    expect(page.locator("li.event").first).to_have_attribute("data-seq", "10")
    # The next background refresh starts only once the held one has ended (drawn or not).
    with page.expect_request(f"**/v1/devices/{DEVICE}", timeout=UI_WAIT_MS):
        background.continue_()

    # Then the page the click asked for was never drawn over with the newest alerts
    shown: list[str] = page.evaluate("() => window.shownMessages")
    clicked = shown.index("Alerts 1 to 10, newest first.")
    assert f"Alerts 11 to {ALERTS}, newest first." not in shown[clicked:], shown
    expect(status).to_have_text("Alerts 1 to 10, newest first.")
    expect(page.locator("li.event").first).to_have_attribute("data-seq", "10")
    assert errors == []
