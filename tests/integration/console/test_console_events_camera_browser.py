"""The events page's camera filter in a real browser (Debian's chromium, driven by Playwright) against
the real app over a real outbox: choosing a camera reads that camera's alerts from the gateway, so a
quiet camera's events show at once however far behind the newest alerts of all cameras they lie;
Older pages back within the camera; and an answer read for one choice that arrives after another
was made is thrown away, never shown as the new choice's.

An answer is held back deterministically by routing its request and releasing it when the test
says; the page's reads are counted in the page itself, so a test waits until the released answer has
been handled rather than for some time."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from pathlib import Path

from playwright.sync_api import Browser, Page, Request, Route, expect

from gateway.domain import AlertEvent, AlertKind, CameraStatus
from tests.integration.console.test_console_events_paging_browser import (
    RARE,
    START_TS,
    UI_WAIT_MS,
    alert_event,
    events_page,
    history,
    served,
    shown_events,
    status,
)
from tests.unit.api.fakes import FakeCameras

ALL_NEWEST = "500 events in the newest 1000 alerts, newest 100 shown"
EXHAUSTED = "No older events: all alerts on the gateway are loaded"

# Every read the page makes goes through fetch: the wrapper names the answers read, and counts the
# reads in flight, on the root element, where a test can wait on them. The page handles an answer in
# microtasks, which all run before the test next looks at the page, and a read they start counts at
# once: so once an answer was read and none is in flight, the page has done all it will with it.
COUNT_READS = """
(() => {
  const answered = [];
  let inFlight = 0;
  const show = () => {
    // The script runs before the document has its root; the console reads nothing until it has.
    const root = document.documentElement;
    root.dataset.answered = answered.join(" ");
    root.dataset.inFlight = String(inFlight);
  };
  const original = window.fetch.bind(window);
  window.fetch = async (resource, init) => {
    inFlight += 1;
    show();
    try {
      const response = await original(resource, init);
      const body = await response.text();
      answered.push(response.url);
      return new Response(body, {
        status: response.status, statusText: response.statusText, headers: response.headers,
      });
    } finally {
      inFlight -= 1;
      show();
    }
  };
})();
"""


class Cameras(FakeCameras):
    """``FakeCameras`` listing cameras of these ids."""

    def __init__(self, *camera_ids: str) -> None:
        super().__init__()
        self.statuses = [dataclasses.replace(self.status, camera_id=camera_id) for camera_id in camera_ids]

    def cameras(self) -> Sequence[CameraStatus]:
        return self.statuses

    def camera(self, camera_id: str) -> CameraStatus | None:
        return next((status for status in self.statuses if status.camera_id == camera_id), None)


def quiet_then_busy() -> list[AlertEvent]:
    """Three events on the door (seq 1 to 6; the first of label RARE, which no yard event has), then
    1,500 on the yard (seq 7 to 3006), the alert of each seq that many seconds after START_TS: the
    door's are far behind the newest 1,000 alerts."""
    made: list[AlertEvent] = []
    for number in range(1503):
        camera_id = "door" if number < 3 else "yard"
        label = RARE if number == 0 else None
        for kind in (AlertKind.START, AlertKind.END):
            made.append(alert_event(number, kind, camera_id, START_TS + len(made) + 1, label))
    return made


def events_reads(page: Page) -> list[str]:
    """The reads of alerts the page makes from now on, as paths with their queries."""
    reads: list[str] = []

    def note(request: Request) -> None:
        path = request.url.split("/", 3)[3]
        if path.startswith("v1/events?"):
            reads.append("/" + path)

    page.on("request", note)
    return reads


class Held:
    """Holds the first request matching ``pattern`` until released; later ones go through. Its
    answer is known to be handled by its URL among those answered, so the page must not have read
    that URL before."""

    def __init__(self, page: Page, pattern: re.Pattern[str]) -> None:
        self.page = page
        self.pattern = pattern
        self.route: Route | None = None
        page.route(pattern, self._hold)

    def _hold(self, route: Route) -> None:
        if self.route is None:
            self.route = route
        else:
            route.continue_()

    def wait(self) -> None:
        """Until the request is held. Playwright hands a route to its handler only while the test
        calls into it, so the loop calls in until it has."""
        deadline = time.monotonic() + UI_WAIT_MS / 1000
        while self.route is None:
            assert time.monotonic() < deadline, f"no request matching {self.pattern.pattern}"
            self.page.wait_for_timeout(20)

    def release(self) -> None:
        """Send the request on, and wait until the page has handled its answer and any read it led to."""
        assert self.route is not None
        url = self.route.request.url
        self.route.continue_()
        self.page.unroute(self.pattern, self._hold)
        root = self.page.locator("html")
        expect(root).to_have_attribute("data-answered", re.compile(re.escape(url)), timeout=UI_WAIT_MS)
        expect(root).to_have_attribute("data-in-flight", "0", timeout=UI_WAIT_MS)


def test_a_quiet_camera_shows_its_events_as_soon_as_it_is_chosen(browser: Browser, tmp_path: Path) -> None:
    with served(tmp_path, quiet_then_busy(), Cameras("door", "yard")) as gateway:
        page = events_page(browser, gateway, ALL_NEWEST)
        reads = events_reads(page)
        # Given the door's three events, older than the newest 1,000 alerts (all the yard's),
        expect(page.locator("li.event").filter(has_text="camera door")).to_have_count(0)
        # when the door is chosen,
        page.get_by_label("Camera").select_option("door")
        # then its events show at once, read from the gateway by camera: there is nothing older.
        expect(status(page)).to_have_text("3 events", timeout=UI_WAIT_MS)
        assert shown_events(page) == ["event-2", "event-1", "event-0"]
        expect(page.locator("#older")).to_have_text(EXHAUSTED)
        assert reads == ["/v1/events?limit=1000&camera=door"]
        # One of them a person's: counted as one event ("1 events" before)
        page.get_by_label("Label").select_option("person")
        expect(status(page)).to_have_text("1 event")
        assert shown_events(page) == ["event-1"]
        page.get_by_label("Label").select_option(index=0)
        expect(status(page)).to_have_text("3 events")
        # The dropdown still lists every camera, and "all cameras" reads every camera's again.
        options = page.get_by_label("Camera").locator("option")
        expect(options).to_have_text(["all cameras", "door", "yard"])
        page.get_by_label("Camera").select_option("")
        expect(status(page)).to_have_text(ALL_NEWEST, timeout=UI_WAIT_MS)
        assert reads[-1] == "/v1/events?limit=1000"


def test_an_answer_read_for_the_camera_chosen_before_is_thrown_away(browser: Browser, tmp_path: Path) -> None:
    with served(tmp_path, quiet_then_busy(), Cameras("door", "yard")) as gateway:
        page = events_page(browser, gateway, ALL_NEWEST, COUNT_READS)
        camera = page.get_by_label("Camera")
        older = page.locator("#older")
        # Given the yard chosen and its newest alerts slow to come, what all cameras showed is gone;
        held = Held(page, re.compile(r"/v1/events\?limit=1000&camera=yard$"))
        camera.select_option("yard")
        held.wait()
        expect(status(page)).to_have_text("Loading events…")
        expect(page.locator("li.event")).to_have_count(0)
        # when the door is chosen before they come, and then they come,
        camera.select_option("door")
        expect(status(page)).to_have_text("3 events", timeout=UI_WAIT_MS)
        held.release()
        # then the page shows the door's events alone: the yard's answer is not the door's.
        expect(status(page)).to_have_text("3 events")
        assert shown_events(page) == ["event-2", "event-1", "event-0"]
        expect(older).to_have_text(EXHAUSTED)

        # Likewise a page Older reads: given the yard chosen, and a label none of its events has (the
        # door's first event's),
        camera.select_option("yard")
        expect(status(page)).to_have_text(ALL_NEWEST, timeout=UI_WAIT_MS)
        page.get_by_label("Label").select_option(RARE)
        expect(status(page)).to_have_text("No events match in the newest 1000 alerts.")
        held = Held(page, re.compile(r"/v1/events\?.*before=.*camera=yard"))
        older.click()
        held.wait()
        expect(older).to_have_text("Loading older events…")
        # when the door is chosen while the yard's page before comes, and then it comes,
        camera.select_option("door")
        expect(status(page)).to_have_text("1 event", timeout=UI_WAIT_MS)
        expect(older).to_have_text(EXHAUSTED)
        held.release()
        # then the door's run is as it was: its event of that label, and nothing older to read.
        expect(status(page)).to_have_text("1 event")
        assert shown_events(page) == ["event-0"]
        expect(older).to_have_text(EXHAUSTED)
        expect(older).to_be_disabled()


def test_older_with_a_camera_chosen_pages_back_within_that_camera(browser: Browser, tmp_path: Path) -> None:
    # 1,500 events: the odd ones on the gate (1,500 alerts), the even ones on the yard; the gate's
    # older than its newest 1,000 alerts (events 1 to 499) of label RARE.
    made = [
        dataclasses.replace(event, label=RARE)
        if event.camera_id == "gate" and int(event.event_id[6:]) < 500
        else event
        for event in history(0, 1500, 2, 1)
    ]
    with served(tmp_path, made, Cameras("gate", "yard")) as gateway:
        page = events_page(browser, gateway, ALL_NEWEST)
        reads = events_reads(page)
        older = page.locator("#older")
        # Given the gate chosen, and a label none of its newest 1,000 alerts has (chosen through the
        # page's address: its dropdown lists only the labels read),
        page.goto(gateway.base + f"/#/events/camera%3Dgate%26label%3D{RARE}")
        expect(status(page)).to_have_text("No events match in the newest 1000 alerts.", timeout=UI_WAIT_MS)
        # when Older reads back,
        older.click()
        # then it reads the gate's alerts before those held, the last of them.
        expect(status(page)).to_have_text("250 events, newest 100 shown", timeout=UI_WAIT_MS)
        assert reads == [
            "/v1/events?limit=1000&camera=gate",
            "/v1/events?limit=1000&before=1003&camera=gate",
        ]
        expect(older).to_have_text("Older events")
        older.click()
        expect(status(page)).to_have_text("250 events, newest 200 shown")
        older.click()
        expect(status(page)).to_have_text("250 events")
        expect(older).to_have_text(EXHAUSTED)
        assert shown_events(page) == [f"event-{number}" for number in range(499, 0, -2)]
        expect(page.locator("li.event").filter(has_not_text="camera gate")).to_have_count(0)
        assert len(reads) == 2, "the gate's alerts were all held"
