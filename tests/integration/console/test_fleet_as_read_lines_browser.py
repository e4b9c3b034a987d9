"""A device's page in a real browser (Debian's chromium) says once when what a failed refresh left
shown was read, and never claims one time for parts read at different times.

A refresh that failed at the device's own read drew its summary as old under "What follows was read
at X; the device's state now is unknown." and its alerts under "What follows was read at Y; alerts
and evidence stored since are not shown.": two near-identical lines a few elements apart, read a few
milliseconds from each other. A summary and alerts read by the same refresh now share one line, at
the top of the summary; the alerts keep a line of their own when they alone are old (their read
failed after the device's succeeded) or were read by an earlier refresh than the summary.

The 503s are the browser's own routes, in place for every refresh until taken away; apart from them
the page reads the real audit HTTP API over a SQLite store.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import UNAVAILABLE, FleetServer, fleet_server, logged_in_page

KEY = bytes(range(32))
LISTED = "box-listed"
ALERTS = 3
QUIET = "box-quiet"
"""A device with a key and no alert stored: nothing is listed."""
NOW = 1_780_000_001.0

AS_READ = re.compile(r"^What follows was read at ")
BOTH_AS_READ = re.compile(
    r"^What follows was read at [^;]+; the device's state now is unknown"
    r" and alerts and evidence stored since are not shown\.$"
)
DEVICE_AS_READ = re.compile(r"^What follows was read at [^;]+; the device's state now is unknown\.$")
ALERTS_AS_READ = re.compile(
    r"^What follows was read at [^;]+; alerts and evidence stored since are not shown\.$"
)


def unavailable(route: Route) -> None:
    route.fulfill(status=503, json={"error": UNAVAILABLE})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-as-read-lines")
    url = f"sqlite:///{directory}/audit.db"
    keys = dict.fromkeys((LISTED, QUIET), KEY)
    chain = AlertChain(LISTED, KEY)
    store = AuditStore.open(url, keys)
    store.ingest([ReceivedMessage(chain.topic, payload, NOW) for payload in chain.extend(ALERTS)])
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as server:
        yield server


def shown_lines(page: Page) -> Locator:
    """The "as read" lines a reader sees on the page, in the page's order."""
    return page.locator("main p:visible").filter(has_text=AS_READ)


def test_a_summary_and_alerts_read_together_are_said_old_by_one_line_over_both(
    browser: Browser, served: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, served, f"device/{LISTED}", errors)
    status_line = page.locator("main p[role=status]")
    summary = page.locator("main h1 + div")
    lines = shown_lines(page)
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(lines).to_have_count(0)

    # Given the reads of the device answered 503, after a refresh that read it and its alerts
    page.route(f"**/v1/devices/{LISTED}", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)

    # Then one line, first in the summary, says both are as of then; the alerts stay listed
    expect(lines).to_have_text([BOTH_AS_READ], timeout=UI_WAIT_MS)
    expect(summary.locator("p:visible").first).to_have_text(BOTH_AS_READ)
    expect(page.locator("li.event")).to_have_count(ALERTS)

    # When the device is read again, then nothing is said to be old
    page.unroute(f"**/v1/devices/{LISTED}")
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(lines).to_have_count(0)
    assert errors == []


def test_alerts_old_alone_have_their_own_line_and_the_summary_none(
    browser: Browser, served: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, served, f"device/{LISTED}", errors)
    status_line = page.locator("main p[role=status]")
    summary = page.locator("main h1 + div")
    lines = shown_lines(page)
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)

    # Given the reads of its alerts answered 503, while the reads of the device went on
    page.route(f"**/v1/devices/{LISTED}/alerts?**", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)

    # Then only the alerts are said to be old, by the line over the list
    expect(lines).to_have_text([ALERTS_AS_READ], timeout=UI_WAIT_MS)
    expect(page.locator("main p:visible + ol.events")).to_have_count(1)
    expect(summary.locator("p:visible").filter(has_text=AS_READ)).to_have_count(0)

    # When the alerts are read again, then nothing is said to be old
    page.unroute(f"**/v1/devices/{LISTED}/alerts?**")
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(lines).to_have_count(0)
    assert errors == []


def test_alerts_read_before_the_summary_keep_their_own_time(browser: Browser, served: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, served, f"device/{LISTED}", errors)
    status_line = page.locator("main p[role=status]")
    lines = shown_lines(page)
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)

    # Given the reads of its alerts failed while the device was still read, a refresh or more later
    page.route(f"**/v1/devices/{LISTED}/alerts?**", unavailable)
    expect(lines).to_have_text([ALERTS_AS_READ], timeout=UI_WAIT_MS)
    alerts_line = lines.first.inner_text()

    # When the reads of the device fail as well
    page.route(f"**/v1/devices/{LISTED}", unavailable)

    # Then the summary and the alerts each say when they were read: the alerts as before, not at
    # the summary's later time
    expect(lines).to_have_text([DEVICE_AS_READ, ALERTS_AS_READ], timeout=UI_WAIT_MS)
    expect(lines.nth(1)).to_have_text(alerts_line)

    # When both are read again, then nothing is said to be old
    page.unroute(f"**/v1/devices/{LISTED}")
    page.unroute(f"**/v1/devices/{LISTED}/alerts?**")
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(lines).to_have_count(0)
    assert errors == []


def test_a_summary_over_no_alerts_is_said_old_alone(browser: Browser, served: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, served, f"device/{QUIET}", errors)
    status_line = page.locator("main p[role=status]")
    lines = shown_lines(page)
    expect(status_line).to_have_text("No alerts stored.", timeout=UI_WAIT_MS)

    # Given the reads of the device answered 503
    page.route(f"**/v1/devices/{QUIET}", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)

    # Then the summary alone is said to be old: no alert is listed to be
    expect(lines).to_have_text([DEVICE_AS_READ], timeout=UI_WAIT_MS)
    assert errors == []
