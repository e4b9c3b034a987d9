"""A device's page in a real browser (Debian's chromium): the evidence dialog's Next, past the last
picture of a page of alerts, shows the page of older alerts, as "Older alerts" would, and its first
picture. The real audit HTTP API over a SQLite store filled as the subscriber fills it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import FleetServer, fleet_server, logged_in_page

KEY = bytes(range(32))
DEVICE = "box-pictures"
ALERTS = 60  # the page shows 11 to 60 (starts with a picture: 58, 55, ... 13), Older 1 to 10 (10, 7, 4, 1)
AT = 1_780_000_001.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-evidence-pages")
    url = f"sqlite:///{directory}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    payloads = chain.extend(ALERTS, evidence=True)
    store = AuditStore.open(url, {DEVICE: KEY})
    store.ingest(
        [
            *(ReceivedMessage(chain.topic, payload, AT) for payload in payloads),
            *(ReceivedMessage(chain.image_topic(seq), image, AT) for seq, image in chain.images.items()),
        ]
    )
    store.close()
    with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as served:
        yield served


def test_next_past_a_pages_last_picture_shows_the_older_page_and_its_first_picture(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{DEVICE}", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_have_text(f"Alerts 11 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)

    # Given the picture of the page's oldest start alert is shown
    page.get_by_role("button", name="Show the evidence of alert #13 larger").click()
    dialog = page.get_by_role("dialog", name="intrusion (person)")
    where = dialog.locator(".evidence-steps span")
    following = dialog.get_by_role("button", name="Next →")
    expect(dialog).to_contain_text("camera gate · #13 start", timeout=UI_WAIT_MS)
    expect(where).to_have_text("16 of 16, older alerts next")

    # When Next is pressed, then the page shows the older alerts under the dialog, and the dialog
    # the newest picture among them, the keyboard still on Next
    following.click()
    expect(status).to_have_text("Alerts 1 to 10, newest first.", timeout=UI_WAIT_MS)
    expect(dialog).to_contain_text("camera gate · #10 start", timeout=UI_WAIT_MS)
    expect(where).to_have_text("1 of 4")
    expect(dialog.get_by_role("img", name="Evidence of alert 10: person on camera gate")).to_have_js_property(
        "naturalWidth", 64, timeout=UI_WAIT_MS
    )
    expect(following).to_be_focused()

    # And the older page steps on to its end, where nothing older is left
    for seq in (7, 4, 1):
        following.click()
        expect(dialog).to_contain_text(f"camera gate · #{seq} start")
    expect(where).to_have_text("4 of 4")
    expect(following).to_be_disabled()
    assert errors == []
