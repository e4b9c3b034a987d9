"""The fleet page in a real browser (Debian's chromium) shows every device of a fleet larger than one
page of ``/v1/devices`` (1000 devices at most per page, 100 unless asked): it reads the pages one
after the other, each from the cursor the one before gave, and the cursor is a device id that may
need escaping in a query string. A store on SQLite behind the real app on a loopback port."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from gateway.audit.store import AuditStore
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
UI_WAIT_MS = 30_000
# The thousandth device in id order ends the first page: its id is the cursor of the second.
BOUNDARY = "box-0999 &after=%zz#?"
DEVICES = [*(f"box-{number:04d}" for number in range(999)), BOUNDARY, "box-1000"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory: Path = tmp_path_factory.mktemp("fleet-paging")
    url = f"sqlite:///{directory}/audit.db"
    keys = dict.fromkeys(DEVICES, KEY)  # keyed devices never heard from: a row each
    AuditStore.open(url, keys).close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
        yield served


def test_the_devices_page_shows_a_fleet_larger_than_a_page(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.base + "/")
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Devices")).to_be_visible(timeout=UI_WAIT_MS)

    # Then every device has its row, those of both pages, the one at the boundary once
    expect(page.locator("tbody tr")).to_have_count(len(DEVICES), timeout=UI_WAIT_MS)
    rows = page.locator("tbody tr").evaluate_all("rows => rows.map((row) => row.dataset.device)")
    assert sorted(rows) == sorted(DEVICES)
    expect(page.locator("main p[role=status]")).to_contain_text(f"{len(DEVICES)} devices: ")
    assert errors == []
