"""The fleet pages in a real browser (Debian's chromium) claim no device state while their refreshes fail.

Once a refresh failed (the audit store unavailable, a 503), the device page kept "State: online" in
green and "No problems." under the error line, and the devices list kept its rows with their state
pills coloured: a reader saw the fleet's state now while it was unknown. The last state read stays
shown, said to be as last read and when, with no state in colour, until a refresh succeeds again.

The 503s are the browser's own route, in place for every refresh until it is taken away; before and
after it the pages read the real audit HTTP API over a SQLite store.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Route, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import UNAVAILABLE, FleetServer, fleet_server, logged_in_page

KEY = bytes(range(32))
ONLINE = "box-online"
OFFLINE = "box-offline"
ALERTS = 3
NOW = 1_780_000_001.0
"""A second after the chains' alert times: no device is behind."""

STATE_COLOUR = re.compile(r"(^|\s)(ok|bad|warn)(\s|$)")
DEVICE_AND_ALERTS_AS_READ = re.compile(
    r"^What follows was read at .+; the device's state now is unknown"
    r" and alerts and evidence stored since are not shown\.$"
)
"""The line over a summary and alerts one refresh read, left shown by a refresh that failed."""
DEVICES_AS_READ = re.compile(r"^What follows was read at .+; the devices' states now are unknown\.$")


def status(device_id: str, state: str, at: float) -> ReceivedMessage:
    return ReceivedMessage(f"edge/{device_id}/status", json.dumps({"state": state}).encode(), at)


def unavailable(route: Route) -> None:
    route.fulfill(status=503, json={"error": UNAVAILABLE})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-stale-state")
    url = f"sqlite:///{directory}/audit.db"
    keys = dict.fromkeys((ONLINE, OFFLINE), KEY)
    store = AuditStore.open(url, keys)
    for device in (ONLINE, OFFLINE):
        chain = AlertChain(device, KEY)
        store.ingest([ReceivedMessage(chain.topic, payload, NOW) for payload in chain.extend(ALERTS)])
    store.ingest(
        [status(ONLINE, "online", NOW), status(OFFLINE, "online", NOW), status(OFFLINE, "offline", NOW + 1)]
    )
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
        yield served


def test_the_device_page_claims_no_state_while_its_refreshes_fail(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{ONLINE}", errors)
    status_line = page.locator("main p[role=status]")
    summary = page.locator("main h1 + div")
    state = summary.locator("dl.facts dt:text-is('State') + dd")
    no_problems = summary.get_by_text("No problems.")
    as_read = summary.get_by_text(DEVICE_AND_ALERTS_AS_READ)
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(state).to_have_text("online")
    expect(state).to_have_class("ok")
    expect(no_problems).to_have_class("ok")
    expect(as_read).to_have_count(0)

    # Given the refreshes of the device answered 503
    page.route(f"**/v1/devices/{ONLINE}", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(status_line).to_have_class("error")

    # Then its last state read stays, said to be as of then, and nothing in it has a state's colour
    expect(as_read).to_be_visible(timeout=UI_WAIT_MS)
    expect(state).to_have_text("online")
    expect(state).not_to_have_class(STATE_COLOUR)
    expect(no_problems).not_to_have_class(STATE_COLOUR)
    expect(summary.locator(".ok, .bad, .warn")).to_have_count(0)

    # When a refresh succeeds again, then the state is the device's now, in its colour
    page.unroute(f"**/v1/devices/{ONLINE}")
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(status_line).to_have_class("muted")
    expect(as_read).to_be_hidden()
    expect(state).to_have_class("ok")
    expect(no_problems).to_have_class("ok")
    assert errors == []


def test_the_devices_list_claims_no_state_while_its_refreshes_fail(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, "devices", errors)
    status_line = page.locator("main p[role=status]")
    rows = page.locator("tbody tr")
    online = page.locator(f'tr[data-device="{ONLINE}"] .pill')
    offline = page.locator(f'tr[data-device="{OFFLINE}"] .pill')
    as_read = page.get_by_text(DEVICES_AS_READ)
    expect(status_line).to_contain_text("2 devices:", timeout=UI_WAIT_MS)
    expect(online).to_have_class("pill ok")
    expect(offline).to_have_class("pill bad")
    expect(as_read).to_be_hidden()

    # Given the refreshes of the list answered 503
    page.route("**/v1/devices?**", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(status_line).to_have_class("error")

    # Then the rows stay, said to be as last read, and no state pill has a state's colour
    expect(as_read).to_be_visible(timeout=UI_WAIT_MS)
    expect(rows).to_have_count(2)
    expect(online).to_have_text("online")
    expect(online).not_to_have_class(STATE_COLOUR)
    expect(offline).to_have_text("offline")
    expect(offline).not_to_have_class(STATE_COLOUR)

    # and so while a filter is typed, which draws the rows again from the last list read
    page.get_by_label("Find a device").fill("online")
    expect(rows).to_have_count(1)
    expect(online).not_to_have_class(STATE_COLOUR)
    expect(as_read).to_be_visible()
    page.get_by_label("Find a device").fill("")
    expect(rows).to_have_count(2)

    # When a refresh succeeds again, then the states are the devices' now, in their colours
    page.unroute("**/v1/devices?**")
    expect(status_line).to_contain_text("2 devices:", timeout=UI_WAIT_MS)
    expect(status_line).to_have_class("muted")
    expect(as_read).to_be_hidden()
    expect(online).to_have_class("pill ok")
    expect(offline).to_have_class("pill bad")
    assert errors == []
