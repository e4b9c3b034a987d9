"""A device's page in a real browser (Debian's chromium) never draws a seq read rounded after a failure.

The fleet pages read the audit API keeping every seq past 2**53 exact; on an error they asked once
more through the shared API client for the error to show. When that second asking was answered
(a 503 for a moment), its answer, read as plain JSON with every seq rounded to a JS number, was
drawn: seq 2**63 - 1 was shown as 2**63 and the alerts around it asked for from there. Now that
refresh shows the error, and the next one reads the answer exactly. The real audit HTTP API over a
SQLite store.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Request, Route, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.protocol.alerts import ZERO_HASH, build_alert, encode_alert
from tests.support.audit_device import event
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import (
    RECORD_STATUS_TEXTS,
    UNAVAILABLE,
    FleetServer,
    fleet_server,
    logged_in_page,
)

KEY = bytes(range(32))
DEVICE = "box-last"
LAST = 2**63 - 1
SHOWN = f"Alerts {LAST - 49} to {LAST}, newest first."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-exact-after-error")
    url = f"sqlite:///{directory}/audit.db"
    alert = build_alert(DEVICE, LAST, event(1), ZERO_HASH, KEY)
    store = AuditStore.open(url, {DEVICE: KEY})
    store.ingest([ReceivedMessage(f"edge/{DEVICE}/alerts", encode_alert(alert), 1_780_000_001.0)])
    store.close()
    with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as served:
        yield served


def test_an_answer_asked_for_again_after_a_503_is_not_drawn_rounded(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{DEVICE}", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_have_text(SHOWN, timeout=UI_WAIT_MS)
    page.evaluate(RECORD_STATUS_TEXTS)

    # Given one reading of the device answered 503, and its asking again answered as usual
    failed: list[Request] = []

    def unavailable(route: Route) -> None:
        failed.append(route.request)
        route.fulfill(status=503, json={"error": UNAVAILABLE})

    after_failure: list[Request] = []

    def next_refresh(request: Request) -> bool:
        # The asking again is the first request to the device after the failed one; the next
        # refresh's is the second, sent once the failed refresh has drawn what it read.
        if failed and request not in failed and request.url.endswith(f"/v1/devices/{DEVICE}"):
            after_failure.append(request)
        return len(after_failure) == 2

    # When the refresh after it has started
    with page.expect_request(next_refresh, timeout=UI_WAIT_MS):
        page.route(f"**/v1/devices/{DEVICE}", unavailable, times=1)

    # Then the failed refresh showed its error, never the device read rounded
    shown: list[str] = page.evaluate("() => window.shownMessages")
    assert set(shown) <= {UNAVAILABLE, SHOWN}, shown
    expect(status).to_have_text(SHOWN, timeout=UI_WAIT_MS)
    expect(status).to_have_class("muted")
    expect(page.locator("dl.facts")).to_contain_text(str(LAST))
    assert errors == []
