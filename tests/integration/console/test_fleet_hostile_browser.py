"""The fleet page in a real browser (Debian's chromium) showing what hostile or odd devices sent: every
string a device chooses (its id from its topic, an alert's rule, label, camera, event and zone,
the reason its rejected message quotes) holding markup, quotes, right-to-left overrides and
10,000-character words; an evidence image whose alert names it ``text/html``; seqs past 2**53.

Before: nothing ran from the markup (the page sets text, never HTML), but a long word widened the
devices table and a timeline card far past the window, a right-to-left override in the rule
reversed the label and the brackets after it, the ``text/html`` evidence opened on its own ran
its script on the audit origin, and a seq past 2**53 was shown rounded (seq 2**53 + 1 as 2**53,
its image asked for under that seq) or, at 2**63 - 1, turned the device's page into a 400."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Error, Page, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.domain import Evidence, ModelRef
from gateway.protocol.alerts import ZERO_HASH, build_alert, encode_alert
from tests.support.audit_device import event, jpeg
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
UI_WAIT_MS = 15_000
MARKUP = '<img src=x onerror="window.__pwned=1"></script><script>window.__pwned=2</script>"\'>'
RTL = "\u202erule\u200f עברית 😀"
LONG = "A" * 10_000
# device id -> the string put in every text field of its alerts
DEVICES = {
    "box" + MARKUP.replace("/", "|"): MARKUP,  # a topic level holds no "/"
    "box-rtl\u202e": RTL,
    "box-" + "L" * 3000: LONG,
    "box-page": "intrusion",
}
PAGE_HTML = b"<script>window.__pwned = 9</script><h1>not a picture</h1>"
# seqs past 2**53, which a JS number cannot hold exactly; a device may send any up to 2**63 - 1
FAR = {"box-far": [2**53 + 1, 2**53 + 2], "box-last": [2**63 - 1]}


def alerts(device_id: str, text: str, seqs: list[int] | None = None) -> list[ReceivedMessage]:
    """Alerts (seqs 1 to 3 unless given) whose every device-chosen string is ``text``, the kinds of
    seqs 1 to 3 of ``event``; the first, a start, names a real JPEG."""
    seqs = seqs or [1, 2, 3]
    image = jpeg(1)
    evidence = Evidence(hashlib.sha256(image).hexdigest(), len(image), "image/jpeg", 64, 48)
    messages, previous = [], ZERO_HASH
    for index, seq in enumerate(seqs):
        made = dataclasses.replace(
            event(index + 1),
            camera_id=text,
            rule=text,
            label=text,
            event_id=text,
            zone=text,
            model=ModelRef(text, 1),
            evidence=evidence if index == 0 else None,
        )
        alert = build_alert(device_id, seq, made, previous, KEY)
        previous = alert.hash
        messages.append(ReceivedMessage(f"edge/{device_id}/alerts", encode_alert(alert), 1_780_000_001.0))
    messages.append(ReceivedMessage(f"edge/{device_id}/evidence/{seqs[0]}", image, 1_780_000_001.0))
    return messages


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory: Path = tmp_path_factory.mktemp("fleet-hostile")
    url = f"sqlite:///{directory}/audit.db"
    keys = dict.fromkeys([*DEVICES, *FAR, "box-page-evidence"], KEY)
    store = AuditStore.open(url, keys)
    page_evidence = Evidence(hashlib.sha256(PAGE_HTML).hexdigest(), len(PAGE_HTML), "text/html", 1, 1)
    shown = build_alert(
        "box-page-evidence", 1, dataclasses.replace(event(1), evidence=page_evidence), ZERO_HASH, KEY
    )
    store.ingest(
        [
            *(message for device_id, text in DEVICES.items() for message in alerts(device_id, text)),
            *(message for device_id, seqs in FAR.items() for message in alerts(device_id, "far", seqs)),
            # a message the store rejects, quoting the device's markup in its reason
            ReceivedMessage(f"edge/box-{quote('x')}/alerts", b'{"schema": "' + MARKUP.encode() + b'"}', 0.0),
            ReceivedMessage("edge/box-page-evidence/alerts", encode_alert(shown), 1_780_000_001.0),
            ReceivedMessage("edge/box-page-evidence/evidence/1", PAGE_HTML, 1_780_000_001.0),
            *(
                ReceivedMessage(f"edge/{device_id}/status", json.dumps({"state": "online"}).encode(), 0.0)
                for device_id in DEVICES
            ),
        ]
    )
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
        yield served


def shown(text: str) -> str:
    """A device's string as its page shows it: 200 characters (code points) at most, then "…"."""
    return text if len(text) <= 200 else text[:200] + "…"


def logged_in(browser: Browser, server: FleetServer, errors: list[str], width: int = 1280) -> Page:
    page = browser.new_context(viewport={"width": width, "height": 800}).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(server.base + "/")
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Devices")).to_be_visible(timeout=UI_WAIT_MS)
    return page


def fits(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def test_the_devices_table_fits_the_window_and_runs_nothing(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = logged_in(browser, server, errors)
    expect(page.locator("tbody tr")).to_have_count(8, timeout=UI_WAIT_MS)
    expect(page.locator("tbody")).to_contain_text(re.compile(r"\d+ messages? rejected \(last: schema"))
    assert page.evaluate("window.__pwned") is None
    assert fits(page), "a long device id widens the table past the window"
    assert errors == []


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("device_id", list(DEVICES)[:3], ids=["markup", "rtl", "long"])
def test_a_hostile_devices_timeline_fits_and_keeps_each_string_apart(
    browser: Browser, server: FleetServer, device_id: str, width: int
) -> None:
    errors: list[str] = []
    page = logged_in(browser, server, errors, width)
    page.goto(f"{server.base}/#/device/{quote(device_id, safe='')}")
    cards = page.locator("li.event")
    expect(cards).to_have_count(3, timeout=UI_WAIT_MS)
    expect(page.locator('li[data-seq="1"] img')).to_have_count(1)  # lazy: loaded once scrolled to
    assert fits(page), "a long alert field widens the timeline past the window"
    text = DEVICES[device_id]
    # each device-chosen string is isolated (<bdi>): an override in one cannot reorder the rest
    assert page.locator("h1 bdi").all_text_contents() == [shown(device_id)]
    card = page.locator('li[data-seq="2"]')
    assert card.locator("h2 bdi").all_text_contents() == [shown(text)] * 2  # rule, label
    camera_and_event = card.locator("p.timeline").first.locator("bdi")
    assert camera_and_event.all_text_contents() == [shown(text)] * 2
    # a string cut is whole in its title and in the signed JSON, which scrolls inside its card
    whole = None if shown(text) == text else text
    assert [bdi.get_attribute("title") for bdi in card.locator("h2 bdi").all()] == [whole] * 2
    card.get_by_text("Show the signed JSON").click()
    raw = card.locator("pre.raw")
    expect(raw).to_contain_text(f'"rule": {json.dumps(text, ensure_ascii=False)},', use_inner_text=False)
    assert fits(page), "the signed JSON opened widens the timeline past the window"
    # its evidence shown larger: the dialog's strings isolated too, the dialog within the window
    page.get_by_role("button", name="Show the evidence of alert #1 larger").click()
    dialog = page.locator("dialog.evidence")
    expect(dialog.locator("img")).to_have_js_property("naturalWidth", 64, timeout=UI_WAIT_MS)
    assert dialog.locator("h2 bdi").all_text_contents() == [shown(text)] * 2  # rule, label
    assert dialog.locator("p.timeline bdi").all_text_contents() == [shown(text), "start"]  # camera, kind
    assert page.evaluate("(dialog) => dialog.scrollWidth <= dialog.clientWidth", dialog.element_handle())
    assert fits(page), "a long alert field widens the dialog past the window"
    assert page.evaluate("window.__pwned") is None
    assert errors == []


def test_evidence_a_device_calls_a_page_runs_nothing_when_opened(
    browser: Browser, server: FleetServer
) -> None:
    page = logged_in(browser, server, [])
    try:
        page.goto(f"{server.base}/v1/devices/box-page-evidence/alerts/1/evidence.jpg")
        outcome = "opened"
    except Error as exc:  # served as bytes: the browser downloads it and stays where it was
        outcome = str(exc)
    assert page.evaluate("window.__pwned") is None
    assert "Download is starting" in outcome


def test_seqs_beyond_what_a_js_number_holds_are_shown_and_asked_for_exactly(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in(browser, server, errors)
    expect(page.locator('tr[data-device="box-last"] td.number').first).to_have_text(str(2**63 - 1))
    page.goto(f"{server.base}/#/device/box-far")
    cards = page.locator("li.event")
    expect(cards).to_have_count(2, timeout=UI_WAIT_MS)
    assert [cards.nth(index).get_attribute("data-seq") for index in (0, 1)] == [
        str(2**53 + 2),
        str(2**53 + 1),
    ]
    expect(cards.nth(1).locator("h2")).to_have_text(f"#{2**53 + 1} start: far (far)")
    expect(cards.nth(1).locator("pre.raw")).to_contain_text(f'"seq": {2**53 + 1},', use_inner_text=False)
    # its own image, not the one of the seq a JS number rounds it to
    page.wait_for_function("() => document.querySelector('li.event img')?.naturalWidth > 0")
    page.goto(f"{server.base}/#/device/box-last")
    expect(cards).to_have_count(1, timeout=UI_WAIT_MS)
    expect(cards.first.locator("h2")).to_have_text(f"#{2**63 - 1} start: far (far)")
    expect(page.locator("main p[role=status]").first).to_have_text(
        f"Alerts {2**63 - 50} to {2**63 - 1}, newest first."
    )
    assert errors == []


def test_one_device_is_answered_as_the_fleet_lists_it_and_its_page_reads_only_it(
    browser: Browser, server: FleetServer
) -> None:
    listed = {item["device_id"]: item for item in json.loads(server.get("/v1/devices").body)["devices"]}
    for device_id in DEVICES:
        answer = server.get(f"/v1/devices/{quote(device_id, safe='')}")
        assert answer.status == 200
        assert json.loads(answer.body) == listed[device_id]
    assert server.get("/v1/devices/no-such-box").status == 404
    assert json.loads(server.get("/v1/fleet").body) == {
        "summary": json.loads(server.get("/v1/devices").body)["summary"]
    }
    # A device page and the badge refresh every 2 s: with thousands of devices, reading the whole
    # fleet each time moved megabytes to show one device and one count.
    errors: list[str] = []
    page = logged_in(browser, server, errors)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{server.base}/#/device/box-page")
    expect(page.locator("li.event")).to_have_count(3, timeout=UI_WAIT_MS)
    # Until a refresh has read the device and the badge the fleet's summary once more (a fixed wait
    # saw no refresh at all when the page's answers were slow, and the check below then proved nothing).
    device, fleet = f"{server.base}/v1/devices/box-page", f"{server.base}/v1/fleet"
    deadline = time.monotonic() + UI_WAIT_MS / 1000
    while asked.count(device) < 2 or asked.count(fleet) < 2:
        assert time.monotonic() < deadline, f"no refresh read the device and the fleet again: {asked}"
        page.wait_for_timeout(50)
    assert f"{server.base}/v1/devices" not in asked
    page.goto(f"{server.base}/#/device/no-such-box")
    expect(page.get_by_text("No device no-such-box in the audit log.")).to_be_visible(timeout=UI_WAIT_MS)
    # the browser reports the 404 itself; nothing else went wrong
    assert [error for error in errors if "Failed to load resource" not in error] == []
