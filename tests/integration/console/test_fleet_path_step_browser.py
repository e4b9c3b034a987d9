"""The fleet page in a real browser (Debian's chromium) with a device whose id is ``..``: a path
step, which no URL can name (``/v1/devices/..`` is ``/v1/`` to a browser, and so is ``%2E%2E``).
The keys file refuses such an id now, but the topic of a rejected message can still bring one, and
the store lists it with its rejected count.

Before: its row linked to ``#/device/..``, whose page asked for ``/v1/devices/..``, which the
browser sent as ``/v1/``, and said there was no such device in the audit log. Now its row is not a
link, and its page (the hash typed by hand) says why it cannot be opened."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
UI_WAIT_MS = 15_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory: Path = tmp_path_factory.mktemp("fleet-path-step")
    url = f"sqlite:///{directory}/audit.db"
    keys = {"box-1": KEY}
    store = AuditStore.open(url, keys)
    chain = AlertChain("box-1", KEY)
    store.ingest(
        [
            ReceivedMessage(chain.topic, chain.extend(1)[0], 1_780_000_001.0),
            ReceivedMessage("edge/../alerts", b"{}", 1_780_000_001.0),
        ]
    )
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
        yield served


def logged_in(browser: Browser, server: FleetServer, errors: list[str]) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.base + "/")
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Devices")).to_be_visible(timeout=UI_WAIT_MS)
    return page


def test_a_device_no_url_can_name_is_listed_without_a_link(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in(browser, server, errors)
    row = page.locator('tr[data-device=".."]')
    expect(row).to_contain_text("1 message rejected", timeout=UI_WAIT_MS)
    assert row.locator("a").count() == 0
    expect(page.locator('tr[data-device="box-1"] a')).to_have_attribute("href", "#/device/box-1")
    assert errors == []


def test_its_page_says_why_it_cannot_be_opened(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in(browser, server, errors)
    page.goto(f"{server.base}/#/device/..")
    expect(page.locator("main p[role=status]").first).to_contain_text(
        "No URL can name the device ..", timeout=UI_WAIT_MS
    )
    assert errors == []
