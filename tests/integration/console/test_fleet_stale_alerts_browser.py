"""A device's page in a real browser (Debian's chromium) says when the alerts it lists were read while
its refreshes fail.

A refresh that failed (the device's read or its alerts', a 503) put its error on the status line in
place of the range the alerts listed were read as ("Alerts 1 to 3, newest first."), and left them
listed under it with nothing saying they were old: alerts stored since (the summary, read again,
already counting them) and their evidence were missing from a list that looked current. The alerts
stay listed (signed and stored, they are true), under a line saying when they were read and that
what was stored since is not shown, until a refresh reads them again.

The 503s are the browser's own route, in place for every refresh until it is taken away; before and
after it the page reads the real audit HTTP API over a SQLite store, which the test writes to
meanwhile as the subscriber does.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import UNAVAILABLE, FleetServer, fleet_server, logged_in_page

KEY = bytes(range(32))
GROWING = "box-growing"
GROWING_ALERTS = 3
ADDED = 2
PAGED = "box-paged"
PAGED_ALERTS = 52
"""A page holds 50 alerts: the newest page is 3 to 52, the older one 1 to 2."""
NOW = 1_780_000_001.0

ALERTS_AS_READ = re.compile(
    r"^What follows was read at .+; alerts and evidence stored since are not shown\.$"
)
DEVICE_AND_ALERTS_AS_READ = re.compile(
    r"^What follows was read at .+; the device's state now is unknown"
    r" and alerts and evidence stored since are not shown\.$"
)
"""The one line over a summary and the alerts read with it, when the device's read fails."""


@dataclass(frozen=True)
class Served:
    server: FleetServer
    url: str
    growing: AlertChain


def unavailable(route: Route) -> None:
    route.fulfill(status=503, json={"error": UNAVAILABLE})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("fleet-stale-alerts")
    url = f"sqlite:///{directory}/audit.db"
    keys = dict.fromkeys((GROWING, PAGED), KEY)
    growing, paged = AlertChain(GROWING, KEY), AlertChain(PAGED, KEY)
    store = AuditStore.open(url, keys)
    store.ingest([ReceivedMessage(growing.topic, payload, NOW) for payload in growing.extend(GROWING_ALERTS)])
    store.ingest([ReceivedMessage(paged.topic, payload, NOW) for payload in paged.extend(PAGED_ALERTS)])
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as server:
        yield Served(server, url, growing)


def seqs(cards: Locator) -> list[str]:
    return [str(cards.nth(index).get_attribute("data-seq")) for index in range(cards.count())]


def opened(browser: Browser, served: Served, device_id: str, errors: list[str]) -> Page:
    return logged_in_page(browser, served.server, f"device/{device_id}", errors)


def test_alerts_listed_under_a_failed_read_of_them_say_when_they_were_read(
    browser: Browser, served: Served
) -> None:
    errors: list[str] = []
    page = opened(browser, served, GROWING, errors)
    status_line = page.locator("main p[role=status]")
    last_seq = page.locator("main h1 + div dl.facts dt:text-is('Last seq') + dd")
    cards = page.locator("li.event")
    as_read = page.get_by_text(ALERTS_AS_READ)
    expect(status_line).to_have_text(f"Alerts 1 to {GROWING_ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(as_read).to_be_hidden()

    # Given the reads of its alerts answered 503 while the device stored more of them
    page.route(f"**/v1/devices/{GROWING}/alerts?**", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    store = AuditStore.open(served.url, {GROWING: KEY})
    try:
        store.ingest(
            [ReceivedMessage(served.growing.topic, payload, NOW) for payload in served.growing.extend(ADDED)]
        )
    finally:
        store.close()
    newest = GROWING_ALERTS + ADDED
    expect(last_seq).to_have_text(str(newest), timeout=UI_WAIT_MS)

    # Then the alerts read before stay listed, said to be as of then, what was stored since not shown
    expect(as_read).to_be_visible()
    assert seqs(cards) == ["3", "2", "1"]

    # When the alerts are read again, then they are listed as the device's now
    page.unroute(f"**/v1/devices/{GROWING}/alerts?**")
    expect(status_line).to_have_text(f"Alerts 1 to {newest}, newest first.", timeout=UI_WAIT_MS)
    expect(as_read).to_be_hidden()
    assert seqs(cards) == ["5", "4", "3", "2", "1"]
    assert errors == []


def test_alerts_listed_under_a_failed_read_of_the_device_say_when_they_were_read(
    browser: Browser, served: Served
) -> None:
    errors: list[str] = []
    page = opened(browser, served, PAGED, errors)
    status_line = page.locator("main p[role=status]")
    cards = page.locator("li.event")
    as_read = page.get_by_text(DEVICE_AND_ALERTS_AS_READ)
    expect(status_line).to_have_text(f"Alerts 3 to {PAGED_ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(cards).to_have_count(50)

    # Given the reads of the device answered 503
    page.route(f"**/v1/devices/{PAGED}", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)

    # Then the alerts read before stay listed, said to be as of then with the summary read with them
    expect(as_read).to_be_visible(timeout=UI_WAIT_MS)
    expect(page.get_by_text(ALERTS_AS_READ)).to_be_hidden()
    expect(cards).to_have_count(50)
    expect(cards.first).to_have_attribute("data-seq", str(PAGED_ALERTS))

    # and Older, whose read fails as well, leaves them so, the error said
    page.get_by_role("button", name="Older alerts").click()
    expect(status_line).to_have_text(UNAVAILABLE)
    expect(as_read).to_be_visible()
    expect(cards.first).to_have_attribute("data-seq", str(PAGED_ALERTS))

    # When the device is read again, then the page Older asked for is listed, as the device's now
    page.unroute(f"**/v1/devices/{PAGED}")
    expect(status_line).to_have_text("Alerts 1 to 2, newest first.", timeout=UI_WAIT_MS)
    expect(as_read).to_be_hidden()
    assert seqs(cards) == ["2", "1"]
    assert errors == []
