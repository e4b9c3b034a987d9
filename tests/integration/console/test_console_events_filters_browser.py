"""The events page's filters across the browser's history, in the real browser against the real app:
the filters chosen are kept in the page's address, so a step back to the events from another page,
or a reload, shows the events chosen again. They were dropped: back on the events, every camera's
every event was shown, the choices made before gone from the form. A rule chosen is read from the
gateway (``/v1/events?rule=``), so its events show however many of other rules' are newer."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from gateway.domain import Alert, CameraState
from tests.integration.console.test_console_events_paging_browser import status
from tests.support.console_app import OneCamera, alerts, console_app

CAMERA = "gate"
CONFIG = f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n"
UI_WAIT_MS = 15_000
LABEL = "traffic light & sign"
"""A label as a model's label file may name it: a space, and the '&' that separates a query's values."""


def history() -> list[Alert]:
    """Two events of rule yard (person), then two of rule door (LABEL)."""
    yard = alerts(CAMERA, "yard", "person", 2)
    door = [
        dataclasses.replace(alert, seq=alert.seq + len(yard)) for alert in alerts(CAMERA, "door", LABEL, 2)
    ]
    return yard + door


def shows_the_door_events_only(page: Page) -> None:
    expect(page.locator("li.event")).to_have_count(2, timeout=UI_WAIT_MS)
    expect(page.locator("li.event h2")).to_have_text([f"door: {LABEL}"] * 2)
    expect(page.locator("#filter-camera")).to_have_value(CAMERA)
    expect(page.locator("#filter-rule")).to_have_value("door")
    expect(page.locator("#filter-label")).to_have_value(LABEL)


def test_the_filters_chosen_are_there_again_after_back_and_after_a_reload(
    tmp_path: Path, browser: Browser
) -> None:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    with console_app(
        OneCamera(CAMERA, CameraState.STREAMING, None), tmp_path / "gateway.yaml", history()
    ) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(page.locator("li.event")).to_have_count(4, timeout=UI_WAIT_MS)
        # Given a camera, a rule and a label chosen on the events page,
        page.locator("#filter-camera").select_option(CAMERA)
        expect(page.locator("li.event")).to_have_count(4, timeout=UI_WAIT_MS)
        page.locator("#filter-rule").select_option("door")
        page.locator("#filter-label").select_option(LABEL)
        shows_the_door_events_only(page)
        # when another page is shown and the browser steps back,
        page.get_by_role("link", name="Models").click()
        expect(page.get_by_role("heading", name="Models")).to_be_visible(timeout=UI_WAIT_MS)
        page.go_back()
        # the events shown are the ones chosen, the choices in the form;
        expect(page.get_by_role("heading", name="Events")).to_be_visible(timeout=UI_WAIT_MS)
        shows_the_door_events_only(page)
        # and so after a reload;
        page.reload()
        shows_the_door_events_only(page)
        # while the Events link shows every event, with nothing chosen.
        page.get_by_role("link", name="Events").click()
        expect(page.locator("li.event")).to_have_count(4, timeout=UI_WAIT_MS)
        expect(page.locator("#filter-rule")).to_have_value("")


def test_a_rare_rules_events_behind_a_page_of_another_rules_show_when_it_is_chosen(
    tmp_path: Path, browser: Browser
) -> None:
    # Given two events of rule door, then 600 events (1,200 alerts) of rule yard: more than the
    # page reads at once, so none of door's alerts is among the newest read
    door = alerts(CAMERA, "door", LABEL, 2)
    yard = [
        dataclasses.replace(alert, seq=alert.seq + len(door))
        for alert in alerts(CAMERA, "yard", "person", 600)
    ]
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    with console_app(
        OneCamera(CAMERA, CameraState.STREAMING, None), tmp_path / "gateway.yaml", door + yard
    ) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        # (the rule door is chosen through the page's address: its dropdown lists only the rules read)
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(status(page)).to_have_text(
            "500 events in the newest 1000 alerts, newest 100 shown", timeout=UI_WAIT_MS
        )
        expect(page.locator("#filter-rule option")).to_have_text(["all rules", "yard"])
        # When the rule door is chosen, its events are read from the gateway and shown at once,
        # without paging back through yard's
        page.goto(f"http://127.0.0.1:{served.port}/#/events/rule%3Ddoor")
        expect(page.locator("li.event h2")).to_have_text([f"door: {LABEL}"] * 2, timeout=UI_WAIT_MS)
        expect(status(page)).to_have_text("2 events")
        expect(page.locator("#older")).to_have_text("No older events: all alerts on the gateway are loaded")
        # and choosing every rule again reads the newest of all
        page.locator("#filter-rule").select_option("")
        expect(status(page)).to_have_text(
            "500 events in the newest 1000 alerts, newest 100 shown", timeout=UI_WAIT_MS
        )
        expect(page.locator("li.event h2").first).to_have_text("yard: person")


def test_a_time_ranges_events_behind_a_page_of_newer_ones_show_when_it_is_chosen(
    tmp_path: Path, browser: Browser
) -> None:
    # Given two events of rule door at 16:00 UTC, then 600 events (1,200 alerts) of rule yard an hour
    # later: more than the page reads at once, so none of door's alerts is among the newest read
    door = alerts(CAMERA, "door", LABEL, 2)
    yard = [
        dataclasses.replace(
            alert,
            seq=alert.seq + len(door),
            event=dataclasses.replace(alert.event, frame_ts=alert.event.frame_ts + 3600),
        )
        for alert in alerts(CAMERA, "yard", "person", 600)
    ]
    first = datetime.fromtimestamp(door[0].event.frame_ts, timezone.utc)
    assert first.isoformat() == "2025-11-24T16:00:00+00:00"
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    with console_app(
        OneCamera(CAMERA, CameraState.STREAMING, None), tmp_path / "gateway.yaml", door + yard
    ) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800}, timezone_id="UTC")
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(status(page)).to_have_text(
            "500 events in the newest 1000 alerts, newest 100 shown", timeout=UI_WAIT_MS
        )
        # When From and To are chosen around 16:00, the range's events are read from the gateway and
        # shown at once, without paging back through the newer ones
        with page.expect_request(lambda request: "until=2025-11-24T16%3A01%3A00.001Z" in request.url):
            page.locator("#filter-from").fill("2025-11-24T15:59")
            page.locator("#filter-to").fill("2025-11-24T16:01")
        expect(page.locator("li.event h2")).to_have_text([f"door: {LABEL}"] * 2, timeout=UI_WAIT_MS)
        expect(status(page)).to_have_text("2 events")
        expect(page.locator("#older")).to_have_text(
            "No older events in the time range: all its alerts are loaded"
        )
        # kept in the address, so a reload shows them again;
        page.reload()
        expect(page.locator("li.event h2")).to_have_text([f"door: {LABEL}"] * 2, timeout=UI_WAIT_MS)
        expect(page.locator("#filter-to")).to_have_value("2025-11-24T16:01")
        # a range that ends before it starts is said to be so, and nothing is read for it;
        page.locator("#filter-from").fill("2025-11-24T16:02")
        expect(status(page)).to_have_text("From must be before To.", timeout=UI_WAIT_MS)
        expect(page.locator("li.event")).to_have_count(0)
        # and with no range, the newest of all are read again
        page.locator("#filter-from").fill("")
        page.locator("#filter-to").fill("")
        expect(status(page)).to_have_text(
            "500 events in the newest 1000 alerts, newest 100 shown", timeout=UI_WAIT_MS
        )
