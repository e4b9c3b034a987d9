"""A device's page in a real browser (Debian's chromium): the evidence dialog's Next, past the last
picture of a page of alerts, shows the page of older alerts, as "Older alerts" would, and its first
picture; Previous, before the first, the page of newer alerts and its last picture; a page with no
picture is stepped over; a start alert without one says why. The real audit HTTP API over a SQLite
store filled as the subscriber fills it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import FleetServer, fleet_server, logged_in_page

KEY = bytes(range(32))
DEVICE = "box-pictures"
ALERTS = 60  # the page shows 11 to 60 (starts with a picture: 58, 55, ... 13), Older 1 to 10 (10, 7, 4, 1)
GAP_DEVICE = "box-gap"
"""110 alerts: 61 to 110 with pictures (109, 106, ... 61), 11 to 60 without any, 1 to 10 with (10 ... 1)."""
V1_DEVICE = "box-v1"
"""4 alerts of schema v1, which has no evidence field."""
AT = 1_780_000_001.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-evidence-pages")
    url = f"sqlite:///{directory}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    chain.extend(ALERTS, evidence=True)
    gap = AlertChain(GAP_DEVICE, KEY)
    for count, evidence in ((10, True), (50, False), (50, True)):
        gap.extend(count, evidence=evidence)
    old = AlertChain(V1_DEVICE, KEY)
    old.extend(4, schema_version=1)
    keys = {DEVICE: KEY, GAP_DEVICE: KEY, V1_DEVICE: KEY}
    store = AuditStore.open(url, keys)
    store.ingest(
        [
            message
            for made in (chain, gap, old)
            for message in (
                *(ReceivedMessage(made.topic, payload, AT) for payload in made.payloads),
                *(ReceivedMessage(made.image_topic(seq), image, AT) for seq, image in made.images.items()),
            )
        ]
    )
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
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
    expect(where).to_have_text("newer alerts before, 1 of 4")
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

    # And Previous from the older page's newest picture shows the newer page again, and its oldest
    # picture, the keyboard on Previous
    for seq in (4, 7, 10):
        page.keyboard.press("ArrowLeft")
        expect(dialog).to_contain_text(f"camera gate · #{seq} start")
    preceding = dialog.get_by_role("button", name="← Previous")
    preceding.click()
    expect(status).to_have_text(f"Alerts 11 to {ALERTS}, newest first.", timeout=UI_WAIT_MS)
    expect(dialog).to_contain_text("camera gate · #13 start", timeout=UI_WAIT_MS)
    expect(where).to_have_text("16 of 16, older alerts next")
    expect(preceding).to_be_focused()
    assert errors == []


def test_newer_alerts_goes_back_a_page_and_is_offered_only_below_the_newest(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{GAP_DEVICE}", errors)
    status = page.locator("main p[role=status]")
    newer = page.get_by_role("button", name="Newer alerts")
    older = page.get_by_role("button", name="Older alerts")
    expect(status).to_have_text("Alerts 61 to 110, newest first.", timeout=UI_WAIT_MS)
    expect(newer).to_be_hidden()

    older.click()
    expect(status).to_have_text("Alerts 11 to 60, newest first.", timeout=UI_WAIT_MS)
    older.click()
    expect(status).to_have_text("Alerts 1 to 10, newest first.", timeout=UI_WAIT_MS)
    expect(older).to_be_hidden()

    newer.click()
    expect(status).to_have_text("Alerts 11 to 60, newest first.", timeout=UI_WAIT_MS)
    newer.click()
    expect(status).to_have_text("Alerts 61 to 110, newest first.", timeout=UI_WAIT_MS)
    expect(newer).to_be_hidden()
    assert errors == []


def test_a_page_without_a_picture_is_stepped_over_both_ways(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{GAP_DEVICE}", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_have_text("Alerts 61 to 110, newest first.", timeout=UI_WAIT_MS)

    # Given the newest page's oldest picture is shown
    page.get_by_role("button", name="Show the evidence of alert #61 larger").click()
    dialog = page.get_by_role("dialog", name="intrusion (person)")
    where = dialog.locator(".evidence-steps span")
    expect(dialog).to_contain_text("camera gate · #61 start", timeout=UI_WAIT_MS)
    expect(where).to_have_text("17 of 17, older alerts next")

    # When Next is pressed, then the page of 11 to 60 (no picture) is read past to 1 to 10's first
    dialog.get_by_role("button", name="Next →").click()
    expect(status).to_have_text("Alerts 1 to 10, newest first.", timeout=UI_WAIT_MS)
    expect(dialog).to_contain_text("camera gate · #10 start", timeout=UI_WAIT_MS)
    expect(where).to_have_text("newer alerts before, 1 of 4")

    # And Previous goes back over it to the newest page's oldest picture
    dialog.get_by_role("button", name="← Previous").click()
    expect(status).to_have_text("Alerts 61 to 110, newest first.", timeout=UI_WAIT_MS)
    expect(dialog).to_contain_text("camera gate · #61 start", timeout=UI_WAIT_MS)
    expect(where).to_have_text("17 of 17, older alerts next")
    assert errors == []


def placeholder_of(page: Page, seq: int) -> Locator:
    return page.locator(f"li.event[data-seq='{seq}'] .placeholder")


def test_a_v2_start_alert_committed_without_its_image_says_so(browser: Browser, server: FleetServer) -> None:
    # It was said to be an alert v1, which has no field for an image.
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{GAP_DEVICE}", errors)
    page.get_by_role("button", name="Older alerts").click()
    expect(placeholder_of(page, 13)).to_have_text("committed without an image", timeout=UI_WAIT_MS)
    expect(placeholder_of(page, 13)).to_have_attribute("title", re.compile("^Evidence was off on the device"))
    expect(page.locator("li.event[data-seq='13'] button")).to_have_count(0)
    assert errors == []


def test_a_v1_start_alert_says_it_is_one(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{V1_DEVICE}", errors)
    expect(placeholder_of(page, 4)).to_have_text("no evidence (alert v1)", timeout=UI_WAIT_MS)
    expect(placeholder_of(page, 4)).not_to_have_attribute("title", re.compile("."))
    assert errors == []


def test_a_thumbnail_shows_a_4_by_3_picture_whole_with_its_box_on_it(
    browser: Browser, server: FleetServer
) -> None:
    # Given start alert 13's picture, 64 by 48 (4:3), its box from (0.1, 0.2) to (0.3, 0.4), in a
    # thumbnail 200 pixels wide and 16:9: the picture fitted whole is 150 by 112.5, 25 pixels in
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{DEVICE}", errors)
    thumbnail = page.locator('li.event[data-seq="13"] .thumb')
    thumbnail.scroll_into_view_if_needed(timeout=UI_WAIT_MS)  # its image loads once near the screen
    expect(thumbnail.locator("img")).to_have_js_property("complete", True, timeout=UI_WAIT_MS)
    expect(thumbnail.locator("img")).to_have_js_property("naturalWidth", 64)
    frame, box = thumbnail.bounding_box(), thumbnail.locator("svg rect").bounding_box()
    assert frame is not None
    assert box is not None
    assert (round(frame["width"]), round(frame["height"])) == (200, 112)

    # Then the picture is not stretched to the thumbnail: beside it the thumbnail's own dark grey,
    # on it the picture's grey (alert 13's, 225); and the box lies where it lies on the picture (on
    # the stretched one it lay 20 pixels in, 40 wide)
    shot = cv2.imdecode(np.frombuffer(thumbnail.screenshot(), dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    assert shot is not None
    row = 20
    assert abs(int(shot[row, 10]) - 0x22) <= 6
    assert abs(int(shot[row, 190]) - 0x22) <= 6
    assert abs(int(shot[row, 100]) - 225) <= 12
    # The rectangle's centre and size, its 3-pixel stroke allowed for
    across = box["x"] + box["width"] / 2 - frame["x"]
    down = box["y"] + box["height"] / 2 - frame["y"]
    assert across == pytest.approx(25 + 0.2 * 150, abs=1)
    assert down == pytest.approx(0.3 * 112.5, abs=1)
    assert 0.2 * 150 - 1 <= box["width"] <= 0.2 * 150 + 3.5
    assert 0.2 * 112.5 - 1 <= box["height"] <= 0.2 * 112.5 + 3.5
    assert errors == []


def detached_nodes(page: Page) -> int:
    """Nodes the page still holds after a garbage collection that are not in its document."""
    session = page.context.new_cdp_session(page)
    try:
        session.send("HeapProfiler.collectGarbage")
        held = int(session.send("Memory.getDOMCounters")["nodes"])
    finally:
        session.detach()
    attached = int(
        page.evaluate(
            """() => {
                const walker = document.createTreeWalker(document, NodeFilter.SHOW_ALL);
                let count = 1;
                while (walker.nextNode()) count += 1;
                return count;
            }"""
        )
    )
    return held - attached


def test_cards_paged_away_from_are_let_go(browser: Browser, server: FleetServer) -> None:
    # Given a device's page that has shown all its 110 alerts, a page at a time
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{GAP_DEVICE}", errors)
    status = page.locator("main p[role=status]")
    expect(status).to_have_text("Alerts 61 to 110, newest first.", timeout=UI_WAIT_MS)
    shown = detached_nodes(page)
    for text in ("Alerts 11 to 60, newest first.", "Alerts 1 to 10, newest first."):
        page.get_by_role("button", name="Older alerts").click()
        expect(status).to_have_text(text, timeout=UI_WAIT_MS)
    # Then the 100 cards no longer shown are not held (a page left open on a device whose alerts keep
    # coming held every card it had drawn); one card is some twenty nodes
    assert detached_nodes(page) - shown < 100
    assert errors == []
