"""The events page's delivery states in a real browser (Debian's chromium) when a read fails: no
delivery state claimed that was not read, and none in colour that may have changed since.

- when only the read of ``/v1/status`` failed (a 503 while ``/v1/events`` answered), every card said
  its alerts were "committed (outbox only)", as if the gateway had no broker. The delivery state is
  then unknown, and the cards say so, in no colour, while a line says why;
- when the whole refresh failed, the page showed the error, but the cards kept their delivery states
  in colour from the last read ("acknowledged by the broker" green, "awaiting the broker" amber),
  with nothing saying when that was. The cards stay, said to be as last read and when, their states
  in no colour, until a refresh succeeds again;
- a server run without the camera pipeline (its ``/v1/status`` answers 404) has no broker: its
  alerts are in the outbox only, as before, with no error said.

The real API app on 127.0.0.1 over hand-written fakes: a gateway whose broker acknowledged the first
event's two alerts and not the second's; the 503s are the browser's own routes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, HttpConfig
from gateway.domain import CameraState, DeliveryState, DeliveryStatus
from tests.support.console_app import OneCamera, alerts, console_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT
from tests.unit.api.fakes import FakeBackend, FakeEvents, SteadyState
from tests.unit.api.harness import ServedApi

UNAVAILABLE = "the gateway's state is unavailable"
COUNTED = "2 events"
ACKNOWLEDGED = "acknowledged by the broker"
AWAITING = "committed, 2 of 2 alerts awaiting the broker"
UNKNOWN = "committed; delivery unknown"
ERROR_CLASS = re.compile(r"(^|\s)error(\s|$)")
STATE_COLOUR = re.compile(r"(^|\s)(ok|warn|bad)(\s|$)")
AS_READ = re.compile(r"^What follows was read at .+; the alerts' delivery states .+ now are unknown\.$")
EVENTS_READ = re.compile(r"/v1/events\?")


class Acknowledging(SteadyState):
    """A gateway connected to its broker, which acknowledged alerts up to seq 2 of 4."""

    def delivery_status(self) -> DeliveryStatus:
        return DeliveryStatus(DeliveryState.CONNECTED, None, "mqtt://broker:1883", 1_764_000_000.0, 4, 2, 0)


@pytest.fixture
def served() -> Iterator[ServedApi]:
    backend = FakeBackend()
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=OneCamera("gate", CameraState.STREAMING, None),
        events=FakeEvents(alerts("gate", "person-in-yard", "person", 2)),
        registry=CollectorRegistry(),
        state=Acknowledging(),
    )
    with closing(backend), closing(ServedApi(app)) as api:
        yield api


def unavailable(route: Route) -> None:
    route.fulfill(status=503, json={"error": UNAVAILABLE})


def pill(page: Page, event: int) -> Locator:
    return page.locator(f"li.event[data-event='gate:person-in-yard:{event}'] .pill")


def expect_current(page: Page) -> None:
    """The cards of a refresh that read the delivery: each state in its colour."""
    expect(pill(page, 0)).to_have_text(ACKNOWLEDGED, timeout=UI_WAIT_MS)
    expect(pill(page, 0)).to_have_class(re.compile(r"(^|\s)ok(\s|$)"), timeout=UI_WAIT_MS)
    expect(pill(page, 1)).to_have_text(AWAITING)
    expect(pill(page, 1)).to_have_class(re.compile(r"(^|\s)warn(\s|$)"))


def open_events(browser: Browser, served: ServedApi, errors: list[str]) -> Page:
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{served.port}/#/events")
    expect_current(page)
    return page


def test_a_failed_status_read_leaves_the_delivery_unknown(browser: Browser, served: ServedApi) -> None:
    errors: list[str] = []
    page = open_events(browser, served, errors)
    note = page.get_by_text(re.compile(r"delivery states could not be read"))
    expect(note).to_be_hidden()

    # Given the status answers 503 while the events answer
    page.route("**/v1/status", unavailable)

    # Then no card claims a delivery state: each says it is unknown, in no state's colour, and a
    # line says why
    for event in (0, 1):
        expect(pill(page, event)).to_have_text(UNKNOWN, timeout=UI_WAIT_MS)
        expect(pill(page, event)).not_to_have_class(STATE_COLOUR)
    expect(page.get_by_text("outbox only")).to_have_count(0)
    expect(note).to_have_text(
        f"The alerts' delivery states could not be read ({UNAVAILABLE}): they are unknown."
    )
    expect(page.locator("main p[role=status]")).to_have_text(COUNTED)

    # When the status can be read again, then the cards show the broker's acknowledgements
    page.unroute("**/v1/status")
    expect_current(page)
    expect(note).to_be_hidden()
    assert errors == []


def test_a_failed_refresh_leaves_no_delivery_state_in_colour(browser: Browser, served: ServedApi) -> None:
    errors: list[str] = []
    page = open_events(browser, served, errors)
    message = page.locator("main p[role=status]")
    as_read = page.get_by_text(AS_READ)
    expect(message).to_have_text(COUNTED)
    expect(as_read).to_be_hidden()
    # The cards held are kept through the failure, not built again (their thumbnails not read again).
    page.locator("li.event").first.evaluate("node => { node.dataset.kept = 'yes'; }")

    # Given the refreshes of the events answer 503
    page.route(EVENTS_READ, unavailable)
    expect(message).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(message).to_have_class(ERROR_CLASS)

    # Then the cards stay, said to be as last read, their delivery states in no state's colour
    expect(as_read).to_be_visible(timeout=UI_WAIT_MS)
    expect(page.locator("li.event .pill")).to_have_text([AWAITING, ACKNOWLEDGED])
    for shown in page.locator("li.event .pill").all():
        expect(shown).not_to_have_class(STATE_COLOUR)
    expect(page.locator("li.event").first).to_have_attribute("data-kept", "yes")

    # When a refresh succeeds again, then the states are the gateway's, in colour, and the line
    # counts the events with no error's style left
    page.unroute(EVENTS_READ)
    expect_current(page)
    expect(as_read).to_be_hidden()
    expect(message).to_have_text(COUNTED)
    expect(message).not_to_have_class(ERROR_CLASS)
    expect(page.locator("li.event").first).to_have_attribute("data-kept", "yes")
    assert errors == []


def test_a_server_without_the_camera_pipeline_has_its_alerts_in_the_outbox_only(
    browser: Browser, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("cameras:\n  - id: gate\n    url: rtsp://10.0.0.5/stream1\n")
    errors: list[str] = []
    camera = OneCamera("gate", CameraState.STREAMING, None)
    with console_app(camera, config, alerts("gate", "person-in-yard", "person", 2)) as app:
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{app.port}/#/events")
        expect(page.locator("li.event .pill")).to_have_text(
            ["committed (outbox only)"] * 2, timeout=UI_WAIT_MS
        )
        expect(page.locator("main p[role=status]")).to_have_text(COUNTED)
        expect(page.get_by_text(re.compile(r"could not be read|delivery unknown"))).to_have_count(0)
        assert errors == []
