"""The fleet page on a phone, in the real browser: the devices table is then a list with no heading
row (the console's shared CSS), so each cell names its column itself, as the console's tables do.
Before, the cells stood there unnamed: "3", "0", "0" with nothing saying which was the last seq."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
UI_WAIT_MS = 15_000
PHONE_WIDTH = 320


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory: Path = tmp_path_factory.mktemp("fleet-phone")
    url = f"sqlite:///{directory}/audit.db"
    keys = {"box-a": KEY, "box-b": KEY}
    store = AuditStore.open(url, keys)
    chain = AlertChain("box-a", KEY)
    chain.extend(3)
    store.ingest(
        [
            *(ReceivedMessage(chain.topic, chain.payload(seq), 1_780_000_001.0) for seq in range(1, 4)),
            ReceivedMessage("edge/box-a/status", json.dumps({"state": "online"}).encode(), 1_780_000_001.0),
        ]
    )
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
        yield served


def test_on_a_phone_each_cell_of_the_devices_table_names_its_column(
    browser: Browser, server: FleetServer
) -> None:
    page = browser.new_context(viewport={"width": PHONE_WIDTH, "height": 700}).new_page()
    page.goto(server.base + "/")
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2, timeout=UI_WAIT_MS)
    expect(page.locator("thead")).to_be_hidden()
    headings = page.locator("thead th").evaluate_all("cells => cells.map((cell) => cell.textContent)")
    for index in range(2):
        named = (
            rows.nth(index)
            .locator("th, td")
            .evaluate_all("cells => cells.map((cell) => getComputedStyle(cell, '::before').content)")
        )
        assert named == [f'"{heading}: "' for heading in headings], named
    expect(page.locator('tr[data-device="box-a"]').get_by_role("cell", name="Last seq: 3")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
