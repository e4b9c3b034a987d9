"""A device's page in a real browser when its alerts are large: a page of alerts holds a bounded
number of bytes (``gateway.audit.fleet.PAGE_BYTES``), so a range of large alerts comes back cut
short, with ``next_from_seq`` where it ends. The page said "Alerts 1 to 8" while it held and showed
only 1 to 4, and alerts 5 to 8 could not be reached at all. It now says what it holds and where the
next page starts, and goes there, and back with Older alerts."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from gateway.audit import fleet
from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.protocol.alerts import ZERO_HASH, build_alert_payload
from tests.support.audit_device import event
from tests.support.browser import chromium
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
DEVICE = "box-large"
ALERTS = 8
LABEL_BYTES = 240_000
UI_WAIT_MS = 15_000


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetServer]:
    # Given 8 alerts of about 240 kB each, and pages of at most 1 MiB past their first alert (the
    # same rule as the real 8 MiB, at a size a test fills quickly): a page from 1 holds 1 to 4
    url = f"sqlite:///{tmp_path}/audit.db"
    store = AuditStore.open(url, {DEVICE: KEY})
    previous, messages = ZERO_HASH, []
    for seq in range(1, ALERTS + 1):
        made = dataclasses.replace(event(seq), label=f"person {seq} " + "x" * LABEL_BYTES)
        alert, payload = build_alert_payload(DEVICE, seq, made, previous, KEY)
        previous = alert.hash
        messages.append(ReceivedMessage(f"edge/{DEVICE}/alerts", payload, 1_780_000_001.0))
    store.ingest(messages)
    store.close()
    monkeypatch.setattr(fleet, "PAGE_BYTES", 2**20)
    with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as server:
        yield server


def device_page(page: Page, server: FleetServer) -> None:
    page.goto(server.base + "/")
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Devices")).to_be_visible(timeout=UI_WAIT_MS)
    page.goto(f"{server.base}/#/device/{DEVICE}")
    expect(page.get_by_role("heading", name=f"Device {DEVICE}")).to_be_visible(timeout=UI_WAIT_MS)


def test_a_page_cut_short_by_its_bytes_says_what_it_holds_and_goes_on(served: FleetServer) -> None:
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        device_page(page, served)

        # When the newest page is shown, then it says it holds 1 to 4 of 1 to 8
        cards = page.locator("li.event")
        expect(cards).to_have_count(4, timeout=UI_WAIT_MS)
        status = page.locator("p[role=status]")
        expect(status).to_contain_text("Alerts 1 to 4 of 1 to 8, newest first")
        expect(status).to_contain_text("alerts from 5 are on the next page")

        # and it goes on from 5 to the newest
        page.get_by_role("button", name="Alerts from 5 to 8").click()
        expect(status).to_have_text("Alerts 5 to 8, newest first.", timeout=UI_WAIT_MS)
        expect(cards).to_have_count(4)
        assert [cards.nth(index).get_attribute("data-seq") for index in range(4)] == ["8", "7", "6", "5"]
        expect(page.get_by_role("button", name="Alerts from 5 to 8")).to_be_hidden()

        # and Older alerts goes back to the page's first part (it was hidden: 1 is the oldest seq)
        page.get_by_role("button", name="Older alerts").click()
        expect(status).to_contain_text("Alerts 1 to 4 of 1 to 8, newest first", timeout=UI_WAIT_MS)
        expect(page.get_by_role("button", name="Older alerts")).to_be_hidden()
