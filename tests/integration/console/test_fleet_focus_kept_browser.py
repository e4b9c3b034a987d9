"""The fleet pages in a real browser (Debian's chromium) keep the keyboard's focus across their
refreshes, as the README promises pages that work by keyboard.

The devices list drew every row anew at each refresh (every 2 s), and the device page took its
alert cards out and put them back: a device's link, or a card's "Show the signed JSON", reached by
Tab lost the focus to the document's body within 2 s, the next Tab starting again from the top of
the page. Here the store changes under the page (a new alert, an image arriving), so the refresh
that shows it has something to redraw, and the test waits for it to show, never for a time.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import FleetServer, fleet_server, logged_in_page

KEY = bytes(range(32))
DEVICES = ("box-east", "box-west")
AT = 1_780_000_001.0


@dataclass
class Fleet:
    server: FleetServer
    url: str
    chains: dict[str, AlertChain]

    def send(self, device_id: str, count: int) -> None:
        """The device's next ``count`` alerts stored (its starts naming an image that has not
        arrived), as the subscriber stores them."""
        chain = self.chains[device_id]
        payloads = chain.extend(count, evidence=True)
        self._store([ReceivedMessage(chain.topic, payload, AT) for payload in payloads])

    def send_image(self, device_id: str, seq: int) -> None:
        chain = self.chains[device_id]
        self._store([ReceivedMessage(chain.image_topic(seq), chain.images[seq], AT)])

    def _store(self, messages: list[ReceivedMessage]) -> None:
        store = AuditStore.open(self.url, dict.fromkeys(DEVICES, KEY))
        try:
            store.ingest(messages)
        finally:
            store.close()


@pytest.fixture
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    directory = tmp_path_factory.mktemp("fleet-focus")
    url = f"sqlite:///{directory}/audit.db"
    keys = dict.fromkeys(DEVICES, KEY)
    AuditStore.open(url, keys).close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
        made = Fleet(served, url, {device: AlertChain(device, KEY) for device in DEVICES})
        for device in DEVICES:
            made.send(device, 2)
        yield made


def test_a_devices_link_keeps_the_focus_while_its_row_is_refreshed(browser: Browser, fleet: Fleet) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, fleet.server, "devices", errors)
    first, second = (page.get_by_role("link", name=device) for device in DEVICES)
    expect(second).to_be_visible(timeout=UI_WAIT_MS)
    # Given the first device's link reached by Tab from the filter,
    page.get_by_label("Find a device").focus()
    page.keyboard.press("Tab")
    expect(first).to_be_focused()
    # when a refresh has drawn its row anew (a new alert: its last seq is 3),
    fleet.send(DEVICES[0], 1)
    last_seq = page.locator(f'tr[data-device="{DEVICES[0]}"] td[data-label="Last seq"]')
    expect(last_seq).to_have_text("3", timeout=UI_WAIT_MS)
    # the link keeps the focus, and the next Tab goes on to the next device's.
    expect(first).to_be_focused()
    page.keyboard.press("Tab")
    expect(second).to_be_focused()
    assert errors == []


def test_an_alerts_signed_json_stays_open_and_focused_while_the_page_is_refreshed(
    browser: Browser, fleet: Fleet
) -> None:
    errors: list[str] = []
    device = DEVICES[1]
    page = logged_in_page(browser, fleet.server, f"device/{device}", errors)
    card = page.locator('li[data-seq="1"]')
    summary = card.get_by_text("Show the signed JSON")
    # Given the signed JSON of alert 1 (a start whose image has not arrived) opened by keyboard,
    expect(card.get_by_text("evidence not arrived yet")).to_be_visible(timeout=UI_WAIT_MS)
    summary.focus()
    page.keyboard.press("Enter")
    expect(card.locator("details")).to_have_js_property("open", True)
    # when a refresh lists a new alert above it,
    fleet.send(device, 1)
    expect(page.locator('li[data-seq="3"]')).to_be_visible(timeout=UI_WAIT_MS)
    # its summary keeps the focus and its JSON stays open;
    expect(summary).to_be_focused()
    expect(card.locator("details")).to_have_js_property("open", True)
    # and once its image arrives and its card is drawn with it, still.
    fleet.send_image(device, 1)
    expect(card.locator("img")).to_be_visible(timeout=UI_WAIT_MS)
    expect(summary).to_be_focused()
    expect(card.locator("details")).to_have_js_property("open", True)
    assert errors == []
