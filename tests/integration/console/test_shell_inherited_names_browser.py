"""The shared page shell in a real browser (Debian's chromium): a hash naming a property every object
inherits (``#/constructor``, ``#/__proto__``, ``#/toString``) shows the fallback page, in the
gateway's console and in the audit service's fleet page.

The router looked a page's name up in its table of pages, where those names found the inherited
properties: the page stayed blank and the script failed ("pages[page].mount is not a function").
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from gateway.audit.store import AuditStore
from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT
from tests.support.fleet_server import FleetServer, fleet_server, logged_in_page

INHERITED = ("constructor", "__proto__", "toString", "hasOwnProperty")
CAMERA = "gate"
DEVICE = "box-east"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-inherited-names")
    url = f"sqlite:///{directory}/audit.db"
    keys = {DEVICE: bytes(range(32))}
    AuditStore.open(url, keys).close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
        yield served


def test_the_console_shows_its_first_page_for_an_inherited_name(browser: Browser, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n")
    errors: list[str] = []
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config) as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda error: errors.append(str(error)))
        for name in INHERITED:
            page.goto(f"http://127.0.0.1:{served.port}/#/events")
            expect(page.get_by_role("heading", name="Events")).to_be_visible(timeout=UI_WAIT_MS)
            page.goto(f"http://127.0.0.1:{served.port}/#/{name}")
            expect(page.get_by_role("heading", name="Cameras")).to_be_visible(timeout=UI_WAIT_MS)
            expect(page.get_by_role("link", name=CAMERA)).to_be_visible(timeout=UI_WAIT_MS)
    assert errors == []


def test_the_fleet_page_shows_the_devices_for_an_inherited_name(browser: Browser, fleet: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, fleet, "devices", errors)
    expect(page.locator("tbody tr")).to_have_count(1, timeout=UI_WAIT_MS)
    for name in INHERITED:
        # From another page, so that the devices shown are the route's; by a hash change alone, so
        # that the session, and the login with it, stays.
        page.evaluate("(hash) => { location.hash = hash; }", f"#/device/{DEVICE}")
        expect(page.get_by_role("heading", name=f"Device {DEVICE}")).to_be_visible(timeout=UI_WAIT_MS)
        page.evaluate("(hash) => { location.hash = hash; }", f"#/{name}")
        expect(page.get_by_role("heading", name="Devices")).to_be_visible(timeout=UI_WAIT_MS)
        expect(page.locator("tbody tr")).to_have_count(1, timeout=UI_WAIT_MS)
    assert errors == []
