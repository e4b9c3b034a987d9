"""The fleet's devices list in a real browser (Debian's chromium) keeps saying that its last refresh
failed while a filter is typed.

Once a refresh failed (the audit service unreachable, a 503), the status line said so, but a key
typed in the devices filter drew the device count over the error: the list shown was stale, and
nothing said so any more. Here one refresh is answered 503 by the browser's own route and the next
is held back while the filter is typed, so no refresh changes the line meanwhile; then it goes
through to the real audit HTTP API over a SQLite store.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Route, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import UNAVAILABLE, FleetServer, fleet_server, logged_in_page

KEY = bytes(range(32))
DEVICES = ("box-east", "box-west")
# A refresh reading the list exactly asks once more, through the pages' shared API client, for the
# error it shows: one failed refresh is two requests.
FAILED_REQUESTS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-filter-after-error")
    url = f"sqlite:///{directory}/audit.db"
    keys = dict.fromkeys(DEVICES, KEY)
    store = AuditStore.open(url, keys)
    for device in DEVICES:
        chain = AlertChain(device, KEY)
        store.ingest([ReceivedMessage(chain.topic, payload, 1_780_000_001.0) for payload in chain.extend(2)])
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
        yield served


def test_the_filter_keeps_the_error_of_a_failed_refresh_until_one_succeeds(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, "devices", errors)
    status = page.locator("main p[role=status]")
    rows = page.locator("tbody tr")
    expect(status).to_contain_text(f"{len(DEVICES)} devices:", timeout=UI_WAIT_MS)
    expect(rows).to_have_count(len(DEVICES))

    # Given one refresh of the list answered 503, and the refreshes after it held back
    answered: list[Route] = []
    held: list[Route] = []

    def fail_then_hold(route: Route) -> None:
        if len(answered) < FAILED_REQUESTS:
            answered.append(route)
            route.fulfill(status=503, json={"error": UNAVAILABLE})
        else:
            held.append(route)

    page.route("**/v1/devices?**", fail_then_hold)
    expect(status).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(status).to_have_class("error")

    # When a filter is typed (its rows drawn from the last list read), then the line still says
    # the refresh failed
    page.get_by_label("Find a device").fill("east")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-device", "box-east")
    expect(status).to_have_text(UNAVAILABLE)
    expect(status).to_have_class("error")
    page.get_by_label("Find a device").fill("")
    expect(rows).to_have_count(len(DEVICES))
    expect(status).to_have_text(UNAVAILABLE)
    expect(status).to_have_class("error")

    # and once a refresh succeeds, the count is shown again, and not as an error
    page.unroute("**/v1/devices?**")
    for route in held:
        route.continue_()
    expect(status).to_contain_text(f"{len(DEVICES)} devices:", timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")
    page.get_by_label("Find a device").fill("west")
    expect(rows).to_have_count(1)
    expect(status).to_contain_text(f"{len(DEVICES)} devices:")
    assert errors == []
