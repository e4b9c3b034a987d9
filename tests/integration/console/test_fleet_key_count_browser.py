"""The fleet page shows how many signing keys the keys file lists for each device (``keys`` in the
fleet API), never the keys: a device being re-keyed has two, an unkeyed device none. Before, the
count was in the API only, and an operator could not see from the page which devices had a second
key still listed."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.audit.keys_file import SigningKeys
from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
NEW_KEY = bytes(range(64, 96))
UI_WAIT_MS = 15_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory: Path = tmp_path_factory.mktemp("fleet-keys")
    url = f"sqlite:///{directory}/audit.db"
    # box-rekeyed: its new key and the old one it still signs with; box-one: one key; box-stranger's
    # alert arrived with no key listed for it
    keys: SigningKeys = {"box-rekeyed": [NEW_KEY, KEY], "box-one": KEY}
    store = AuditStore.open(url, keys)
    rekeyed, stranger = AlertChain("box-rekeyed", KEY), AlertChain("box-stranger", KEY)
    at = 1_780_000_001.0
    store.ingest(
        [
            *(ReceivedMessage(rekeyed.topic, payload, at) for payload in rekeyed.extend(2)),
            *(ReceivedMessage(stranger.topic, payload, at) for payload in stranger.extend(1)),
            ReceivedMessage("edge/box-rekeyed/status", json.dumps({"state": "online"}).encode(), at),
        ]
    )
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as running:
        yield running


def logged_in(browser: Browser, server: FleetServer) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(server.base + "/")
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Devices")).to_be_visible(timeout=UI_WAIT_MS)
    return page


def test_the_devices_table_shows_each_devices_key_count(browser: Browser, server: FleetServer) -> None:
    page = logged_in(browser, server)
    expect(page.locator("tbody tr")).to_have_count(3, timeout=UI_WAIT_MS)
    for device_id, count in (("box-rekeyed", "2"), ("box-one", "1"), ("box-stranger", "none")):
        row = page.locator(f'tr[data-device="{device_id}"]')
        expect(row.locator('td[data-label="Keys"]')).to_have_text(count)
    expect(page.get_by_role("columnheader", name="Keys", exact=True)).to_have_count(1)
    assert KEY.hex() not in page.content()
    assert NEW_KEY.hex() not in page.content()


def test_a_devices_page_shows_its_key_count_and_no_key(browser: Browser, server: FleetServer) -> None:
    page = logged_in(browser, server)
    page.goto(server.base + "/#/device/box-rekeyed")
    expect(page.get_by_role("heading", name="Device box-rekeyed")).to_be_visible(timeout=UI_WAIT_MS)
    facts = page.locator("dl.facts")
    expect(facts.locator("dt", has_text="Signing keys")).to_have_count(1, timeout=UI_WAIT_MS)
    expect(facts.locator("dt:text-is('Signing keys') + dd")).to_have_text("2")
    assert KEY.hex() not in page.content()
    assert NEW_KEY.hex() not in page.content()

    # And an unkeyed device's page says it has none
    page.goto(server.base + "/#/device/box-stranger")
    expect(page.get_by_role("heading", name="Device box-stranger")).to_be_visible(timeout=UI_WAIT_MS)
    expect(page.locator("dl.facts dt:text-is('Signing keys') + dd")).to_have_text("none", timeout=UI_WAIT_MS)
