"""A device's page in a real browser when its alerts are large: a page of alerts holds a bounded
number of bytes (``gateway.audit.fleet.PAGE_BYTES``), so a range of large alerts comes back cut
short, with ``next_from_seq`` where it ends. The page said "Alerts 1 to 8" while it held and showed
only 1 to 4, and alerts 5 to 8 could not be reached at all. It now says what it holds and where the
next page starts, and goes there, and back with Older alerts."""

from __future__ import annotations

import contextlib
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
    with served_alerts(tmp_path, monkeypatch, [LABEL_BYTES] * ALERTS) as server:
        yield server


@contextlib.contextmanager
def served_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, label_bytes: list[int]
) -> Iterator[FleetServer]:
    """A fleet server over one device whose alert ``seq`` has a label of ``label_bytes[seq - 1]``
    bytes, with pages of at most 1 MiB past their first alert."""
    url = f"sqlite:///{tmp_path}/audit.db"
    store = AuditStore.open(url, {DEVICE: KEY})
    previous, messages = ZERO_HASH, []
    for seq, size in enumerate(label_bytes, start=1):
        made = dataclasses.replace(event(seq), label=f"person {seq} " + "x" * size)
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
    expect(page.locator("main p[role=status]")).to_contain_text("1 device: ", timeout=UI_WAIT_MS)
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


def test_older_and_newer_alerts_step_through_every_part_of_pages_cut_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 54 alerts (the device page shows 50 at a time: the newest page is 5 to 54, the one
    # before 1 to 4): 1 to 4 of about 400 kB each, so their page is cut into 1-2 and 3-4; 5 to 13 of
    # about 240 kB, so the newest page is cut twice, into 5-8, 9-12 and 13-54; the rest small
    sizes = [400_000] * 4 + [LABEL_BYTES] * 9 + [100] * 41
    with served_alerts(tmp_path, monkeypatch, sizes) as server, chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        device_page(page, server)
        status = page.locator("p[role=status]")
        cards = page.locator("li.event")
        older = page.get_by_role("button", name="Older alerts")
        newer = page.get_by_role("button", name="Newer alerts")

        def shows(first: int, last: int) -> None:
            expect(cards.first).to_have_attribute("data-seq", str(last), timeout=UI_WAIT_MS)
            expect(cards.last).to_have_attribute("data-seq", str(first))
            expect(cards).to_have_count(last - first + 1)

        # When the newest page's parts are read on to its newest alerts
        expect(status).to_contain_text("Alerts 5 to 8 of 5 to 54", timeout=UI_WAIT_MS)
        page.get_by_role("button", name="Alerts from 9 to 54").click()
        expect(status).to_contain_text("Alerts 9 to 12 of 9 to 54", timeout=UI_WAIT_MS)
        page.get_by_role("button", name="Alerts from 13 to 54").click()
        expect(status).to_have_text("Alerts 13 to 54, newest first.", timeout=UI_WAIT_MS)
        shows(13, 54)

        # Then Older alerts steps back through each part in turn (the middle one was skipped), then
        # to the page before, whose own first part holds 1 and 2
        older.click()
        expect(status).to_contain_text("Alerts 9 to 12 of 9 to 54", timeout=UI_WAIT_MS)
        shows(9, 12)
        older.click()
        expect(status).to_contain_text("Alerts 5 to 8 of 5 to 54", timeout=UI_WAIT_MS)
        shows(5, 8)
        older.click()
        expect(status).to_contain_text("Alerts 1 to 2 of 1 to 4", timeout=UI_WAIT_MS)
        shows(1, 2)
        expect(older).to_be_hidden()

        # and Newer alerts is offered only where no part of the page lies between: here 3 and 4 do
        # (Newer alerts stepped over them to 5)
        expect(newer).to_be_hidden()
        page.get_by_role("button", name="Alerts from 3 to 4").click()
        expect(status).to_have_text("Alerts 3 to 4, newest first.", timeout=UI_WAIT_MS)
        shows(3, 4)
        expect(older).to_be_visible()
        newer.click()
        expect(status).to_contain_text("Alerts 5 to 8 of 5 to 54", timeout=UI_WAIT_MS)
        shows(5, 8)
        expect(newer).to_be_hidden()

        # and the newest page's parts are read on afresh from there, back to its first part
        page.get_by_role("button", name="Alerts from 9 to 54").click()
        expect(status).to_contain_text("Alerts 9 to 12 of 9 to 54", timeout=UI_WAIT_MS)
        older.click()
        expect(status).to_contain_text("Alerts 5 to 8 of 5 to 54", timeout=UI_WAIT_MS)
