"""The audit service's fleet page in a real browser (Debian's chromium, driven by Playwright) against
the audit HTTP API over a real store, behind a bearer token: the login form, devices with problems
first (an offline one, one whose alerts fail their signature, one with a broken chain, one never
heard from), and a device's timeline with its evidence images, each opening at its own size with its
alert's box over it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from prometheus_client import CollectorRegistry

from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.config import HttpConfig
from gateway.protocol.alerts import build_alert, encode_alert
from tests.support.audit_device import AlertChain, event
from tests.support.browser import keep_screenshot
from tests.support.evidence_dialog import check_shown_with_box

KEY = bytes(range(32))
KEYS = dict.fromkeys(("box-good", "box-offline", "box-forged", "box-unchained", "box-silent"), KEY)
UI_WAIT_MS = 15_000


@dataclass
class Served:
    base: str
    token: str
    shots: Path


def status(device_id: str, state: str, at: float) -> ReceivedMessage:
    return ReceivedMessage(f"edge/{device_id}/status", json.dumps({"state": state}).encode(), at)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("fleet-page")
    url = f"sqlite:///{directory}/audit.db"
    store = AuditStore.open(url, KEYS)
    now = 1_780_000_001.0  # a second after the chains' alert times: no device is behind
    good = AlertChain("box-good", KEY)
    good.extend(9, evidence=True)
    offline = AlertChain("box-offline", KEY)
    offline.extend(3)
    unchained = AlertChain("box-unchained", KEY)
    unchained.extend(3)
    forged = build_alert("box-forged", 1, event(1), "0" * 64, bytes(range(1, 33)))
    broken = build_alert("box-unchained", 4, event(4), "f" * 64, KEY)
    store.ingest(
        [
            *(ReceivedMessage(good.topic, good.payload(seq), now) for seq in range(1, 10)),
            *(ReceivedMessage(good.image_topic(seq), image, now) for seq, image in good.images.items()),
            *(ReceivedMessage(offline.topic, offline.payload(seq), now) for seq in range(1, 4)),
            *(ReceivedMessage(unchained.topic, unchained.payload(seq), now) for seq in range(1, 4)),
            ReceivedMessage("edge/box-forged/alerts", encode_alert(forged), now),
            ReceivedMessage(unchained.topic, encode_alert(broken), now),
            status("box-good", "online", now),
            status("box-offline", "online", now),
            status("box-offline", "offline", now + 1),
            status("box-unchained", "online", now),
        ]
    )
    store.close()
    token = secrets.token_urlsafe(16)
    reader = AuditStore.open(url, KEYS)
    server = AuditHttpServer(
        create_app(reader, http=HttpConfig(port=0), tokens=frozenset({token}), registry=CollectorRegistry()),
        "127.0.0.1",
        0,
    )
    port = server.start()
    shots = directory / "screenshots"
    shots.mkdir()
    try:
        yield Served(f"http://127.0.0.1:{port}", token, shots)
    finally:
        server.stop()
        reader.close()


def shot(served: Served, page: Page, name: str) -> None:
    path = served.shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep_screenshot(path)


def logged_in(browser: Browser, served: Served) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(served.base + "/")
    page.get_by_label("API token").fill("not-the-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong token.", timeout=UI_WAIT_MS)
    page.get_by_label("API token").fill(served.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Devices")).to_be_visible(timeout=UI_WAIT_MS)
    return page


def test_devices_with_problems_come_first_with_what_is_wrong(browser: Browser, served: Served) -> None:
    page = logged_in(browser, served)
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(5, timeout=UI_WAIT_MS)
    order = [rows.nth(index).get_attribute("data-device") for index in range(5)]
    # problems first (not online before online), the healthy device last
    assert order[-1] == "box-good"
    assert set(order[:4]) == {"box-offline", "box-forged", "box-unchained", "box-silent"}
    expect(page.locator('tr[data-device="box-offline"]')).to_contain_text("offline")
    expect(page.locator('tr[data-device="box-forged"]')).to_contain_text(
        "1 message rejected (last: signature"
    )
    expect(page.locator('tr[data-device="box-unchained"]')).to_contain_text("1 message rejected (last: chain")
    expect(page.locator('tr[data-device="box-silent"]')).to_contain_text("never heard from")
    expect(page.locator('tr[data-device="box-good"]')).to_contain_text("none")
    expect(page.locator("#health")).to_have_text("4 devices with problems")
    shot(served, page, "fleet-devices")


def test_a_devices_timeline_shows_its_alerts_with_their_evidence(browser: Browser, served: Served) -> None:
    page = logged_in(browser, served)
    page.get_by_role("link", name="box-good").click()
    expect(page.get_by_role("heading", name="Device box-good")).to_be_visible(timeout=UI_WAIT_MS)
    cards = page.locator("li.event")
    expect(cards).to_have_count(9, timeout=UI_WAIT_MS)
    assert cards.first.get_attribute("data-seq") == "9"  # newest first
    image = page.locator('li[data-seq="7"] img')
    expect(image).to_be_visible(timeout=UI_WAIT_MS)
    # A function, not an expression: Playwright evaluates an expression anew at each poll after the
    # first, with eval(), which the page's script-src 'self' refuses (EvalError when not yet loaded).
    page.wait_for_function("() => document.querySelector('li[data-seq=\"7\"] img').naturalWidth > 0")
    expect(page.get_by_text("No problems.")).to_be_visible()
    shot(served, page, "fleet-device")


def test_an_evidence_thumbnail_opens_a_small_image_larger_with_the_box(
    browser: Browser, served: Served
) -> None:
    page = logged_in(browser, served)
    page.goto(served.base + "/#/device/box-good")
    larger = page.get_by_role("button", name="Show the evidence of alert #7 larger")
    # The box of the signed alert, (0.1, 0.2)-(0.3, 0.4), on the thumbnail too
    expect(page.locator('li[data-seq="7"] .thumb svg rect')).to_have_count(1, timeout=UI_WAIT_MS)

    # When the thumbnail is clicked
    larger.click()

    # Then the 64 x 48 image is shown larger than its thumbnail, 640 wide in its own shape (it was
    # shown at its own size, smaller than the thumbnail), with the box over it
    dialog = page.get_by_role("dialog", name="intrusion (person)")
    picture = dialog.get_by_role("img", name="Evidence of alert 7: person on camera gate")
    expect(picture).to_have_js_property("naturalWidth", 64, timeout=UI_WAIT_MS)
    expect(dialog).to_contain_text("camera gate · #7 start")
    check_shown_with_box(dialog, 640, 480, (0.1, 0.2, 0.3, 0.4))

    # Next shows the picture below it on the page (the alerts with one: #7, #4, #1)
    expect(dialog.locator(".evidence-steps span")).to_have_text("1 of 3")
    dialog.get_by_role("button", name="Next →").click()
    expect(dialog).to_contain_text("camera gate · #4 start")
    expect(dialog.locator(".evidence-steps span")).to_have_text("2 of 3")
    expect(dialog.get_by_role("img", name="Evidence of alert 4: person on camera gate")).to_have_js_property(
        "naturalWidth", 64, timeout=UI_WAIT_MS
    )

    # and Close closes it, the keyboard on the thumbnail of the picture shown last
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Show the evidence of alert #4 larger")).to_be_focused()


def test_a_device_with_a_broken_chain_says_so_on_its_page(browser: Browser, served: Served) -> None:
    page = logged_in(browser, served)
    page.goto(served.base + "/#/device/box-unchained")
    expect(page.get_by_role("alert")).to_contain_text("1 message rejected (last: chain", timeout=UI_WAIT_MS)
    expect(page.locator("li.event")).to_have_count(3)
