"""A device's page in a real browser (Debian's chromium) says which alerts it holds, from where to
where, and not as an error, once a refresh succeeds after one that failed.

A refresh that failed (the audit service unreachable, a 503) styled the status line as an error,
and the refreshes that succeeded after it changed its text but not its style. Here the page is
one of large alerts: a page of them ends early ("Alerts 1 to 4 of 1 to 8 ...", its bytes bounded)
and the next is asked for from where it ended ("Alerts from 5 to 8"), so the status line says a
range of its own; one refresh of each is answered 503 by the browser's own route, the next goes
through to the real audit HTTP API over a SQLite store.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from gateway.audit import fleet
from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.protocol.alerts import ZERO_HASH, build_alert_payload
from tests.support.audit_device import event
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import (
    UNAVAILABLE,
    FleetServer,
    fail_one_refresh,
    fleet_server,
    logged_in_page,
)

KEY = bytes(range(32))
DEVICE = "box-range"
ALERTS = 8
# About 240 kB an alert with pages of at most 1 MiB past their first alert (the rule of the real
# 8 MiB, at a size a test fills quickly): a page from 1 holds 1 to 4.
LABEL_BYTES = 240_000
PAGE_BYTES = 2**20
CUT_SHORT = (
    "Alerts 1 to 4 of 1 to 8, newest first: these alerts are large, so the page ends there; "
    "alerts from 5 are on the next page."
)
FROM_FIVE = "Alerts 5 to 8, newest first."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-range-status")
    url = f"sqlite:///{directory}/audit.db"
    store = AuditStore.open(url, {DEVICE: KEY})
    previous, messages = ZERO_HASH, []
    for seq in range(1, ALERTS + 1):
        made = dataclasses.replace(event(seq), label=f"person {seq} " + "x" * LABEL_BYTES)
        alert, payload = build_alert_payload(DEVICE, seq, made, previous, KEY)
        previous = alert.hash
        messages.append(ReceivedMessage(f"edge/{DEVICE}/alerts", payload, 1_780_000_001.0))
    store.ingest(messages)
    store.close()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fleet, "PAGE_BYTES", PAGE_BYTES)
        with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as served:
            yield served


def test_a_page_cut_short_says_its_range_and_no_error_once_a_refresh_succeeds(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{DEVICE}", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_have_text(CUT_SHORT, timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")

    # Given one refresh of the page's alerts answered 503
    fail_one_refresh(page, f"**/v1/devices/{DEVICE}/alerts?**")
    expect(status).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(status).to_have_class("error")

    # When the next refresh succeeds, then the range it holds is said again, and not as an error
    expect(status).to_have_text(CUT_SHORT, timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")
    assert errors == []


def test_the_alerts_from_where_a_page_ended_are_no_error_once_a_refresh_succeeds(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{DEVICE}", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_have_text(CUT_SHORT, timeout=UI_WAIT_MS)
    page.get_by_role("button", name=f"Alerts from 5 to {ALERTS}").click()
    expect(status).to_have_text(FROM_FIVE, timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")

    # Given one refresh of the device answered 503
    fail_one_refresh(page, f"**/v1/devices/{DEVICE}")
    expect(status).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(status).to_have_class("error")

    # When the next refresh succeeds, then it shows the alerts from 5 as asked, and not as an error
    expect(status).to_have_text(FROM_FIVE, timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")
    cards = page.locator("li.event")
    expect(cards).to_have_count(4)
    assert [cards.nth(index).get_attribute("data-seq") for index in range(4)] == ["8", "7", "6", "5"]
    assert errors == []
