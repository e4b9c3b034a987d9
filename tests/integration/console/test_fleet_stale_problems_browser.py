"""The fleet pages in a real browser (Debian's chromium) paint no device's problems red as its state
now while their refreshes fail, and the device page calls old only what an older refresh read.

- Under a failed refresh the devices list kept its problem rows marked in red (the bar at the row's
  head and the list of its problems), and the device page its "Problems:" banner in a warning's
  amber: what an older read said, painted as the fleet's state now. The problems stay, in no
  state's colour, until a refresh succeeds.
- A refresh whose read of the device succeeded and whose read of its alerts failed drew the summary
  it had just read as old ("What follows was read at ...; the device's state now is unknown.") and
  in no colour: it is the device's state now, and is shown as such under the alerts' error.

The 503s are the browser's own route; apart from them the pages read the real audit HTTP API over a
SQLite store.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, Route, expect

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

DEVICE_AS_READ = re.compile(r"^What follows was read at .+; the device's state now is unknown\.$")
DEVICE_AND_ALERTS_AS_READ = re.compile(
    r"^What follows was read at .+; the device's state now is unknown"
    r" and alerts and evidence stored since are not shown\.$"
)
DEVICES_AS_READ = re.compile(r"^What follows was read at .+; the devices' states now are unknown\.$")

PAINTS = """() => {
  const probe = document.createElement("div");
  document.body.append(probe);
  const computed = (className, property) => {
    probe.className = className;
    return getComputedStyle(probe)[property];
  };
  const paints = {
    states: ["ok", "warn", "bad"].map((name) => computed(name, "color")),
    banners: ["banner", "banner bad"].map((name) => computed(name, "backgroundColor")),
  };
  probe.remove();
  return paints;
}"""
"""The colours the console's stylesheet paints a state in (ok, warn, bad), and a banner's backgrounds
(a warning's, an error's), as the browser computes them."""


@dataclass(frozen=True)
class Paints:
    states: re.Pattern[str]
    bad: str
    banners: re.Pattern[str]


def paints(page: Page) -> Paints:
    found = page.evaluate(PAINTS)

    def either(colours: list[str]) -> re.Pattern[str]:
        return re.compile("^(" + "|".join(re.escape(colour) for colour in colours) + ")$")

    return Paints(either(found["states"]), found["states"][2], either(found["banners"]))


def status(device_id: str, state: str, at: float) -> ReceivedMessage:
    return ReceivedMessage(f"edge/{device_id}/status", json.dumps({"state": state}).encode(), at)


def unavailable(route: Route) -> None:
    route.fulfill(status=503, json={"error": UNAVAILABLE})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-stale-problems")
    url = f"sqlite:///{directory}/audit.db"
    keys = dict.fromkeys((ONLINE, OFFLINE), KEY)
    store = AuditStore.open(url, keys)
    for device in keys:
        chain = AlertChain(device, KEY)
        store.ingest([ReceivedMessage(chain.topic, payload, NOW) for payload in chain.extend(ALERTS)])
    store.ingest(
        [
            status(ONLINE, "online", NOW),
            status(OFFLINE, "online", NOW),
            status(OFFLINE, "offline", NOW + 1),
        ]
    )
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as server:
        yield server


def test_the_devices_list_paints_no_problem_red_while_its_refreshes_fail(
    browser: Browser, served: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, served, "devices", errors)
    status_line = page.locator("main p[role=status]")
    head = page.locator(f'tr[data-device="{OFFLINE}"] th')
    problems = page.locator(f'tr[data-device="{OFFLINE}"] ul.problems')
    as_read = page.get_by_text(DEVICES_AS_READ)
    expect(status_line).to_contain_text("2 devices:", timeout=UI_WAIT_MS)
    colours = paints(page)
    expect(head).to_have_css("border-left-color", colours.bad)
    expect(problems).to_have_css("color", colours.bad)

    # Given the refreshes of the list answered 503
    page.route("**/v1/devices?**", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(as_read).to_be_visible(timeout=UI_WAIT_MS)

    # Then the offline device's problems are still listed, and nothing of its row is red
    expect(problems).to_have_text("offline")
    expect(head).not_to_have_css("border-left-color", colours.states)
    expect(problems).not_to_have_css("color", colours.states)

    # and so while a filter is typed, which draws the rows again from the last list read
    page.get_by_label("Find a device").fill("offline")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(head).not_to_have_css("border-left-color", colours.states)
    expect(problems).not_to_have_css("color", colours.states)
    page.get_by_label("Find a device").fill("")

    # When a refresh succeeds again, then the problems are the device's now, in red
    page.unroute("**/v1/devices?**")
    expect(as_read).to_be_hidden(timeout=UI_WAIT_MS)
    expect(head).to_have_css("border-left-color", colours.bad)
    expect(problems).to_have_css("color", colours.bad)
    assert errors == []


def test_the_device_page_paints_no_problem_as_a_warning_while_its_refreshes_fail(
    browser: Browser, served: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, served, f"device/{OFFLINE}", errors)
    status_line = page.locator("main p[role=status]")
    banner = page.locator("main h1 + div").get_by_text("Problems:").locator("..")
    as_read = page.get_by_text(DEVICE_AND_ALERTS_AS_READ)
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    colours = paints(page)
    expect(banner).to_have_css("border-top-color", colours.bad)
    expect(banner).to_have_attribute("role", "alert")

    # Given the refreshes of the device answered 503
    page.route(f"**/v1/devices/{OFFLINE}", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(as_read).to_be_visible(timeout=UI_WAIT_MS)

    # Then its problems are still listed, framed in no state's colour and on no banner's background
    expect(banner).to_have_text("Problems: offline")
    expect(banner).not_to_have_css("border-top-color", colours.states)
    expect(banner).not_to_have_css("background-color", colours.banners)
    expect(banner).not_to_have_attribute("role", "alert")

    # When a refresh succeeds again, then they are the device's problems now, in red
    page.unroute(f"**/v1/devices/{OFFLINE}")
    expect(as_read).to_be_hidden(timeout=UI_WAIT_MS)
    expect(banner).to_have_css("border-top-color", colours.bad)
    assert errors == []


def test_a_summary_read_by_the_refresh_whose_alerts_failed_is_the_device_now(
    browser: Browser, served: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, served, f"device/{ONLINE}", errors)
    status_line = page.locator("main p[role=status]")
    summary = page.locator("main h1 + div")
    state = summary.locator("dl.facts dt:text-is('State') + dd")
    as_read = page.get_by_text(DEVICE_AS_READ)
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)

    # Given the reads of its alerts answered 503, while the reads of the device went on
    page.route(f"**/v1/devices/{ONLINE}/alerts?**", unavailable)
    expect(status_line).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(status_line).to_have_class("error")

    # Then the summary that refresh read is the device's state now: not said to be old, in colour
    expect(as_read).to_have_count(0)
    expect(state).to_have_text("online")
    expect(state).to_have_class("ok")
    expect(summary.get_by_text("No problems.")).to_have_class("ok")

    # When the alerts are read again, then they are listed under the summary
    page.unroute(f"**/v1/devices/{ONLINE}/alerts?**")
    expect(status_line).to_have_text(f"Alerts 1 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(as_read).to_have_count(0)
    assert errors == []
