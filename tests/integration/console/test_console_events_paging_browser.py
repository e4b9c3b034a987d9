"""The events page paging back through the real outbox in a real browser (Debian's chromium, driven
by Playwright) against the real app: Older reads the pages before what is held and shows them below,
an event whose start lies on an older page becomes one card once that page is read, the rule, label
and time filters apply to everything held, the live refresh keeps adding the newest (closing the gap
when more arrived than one answer holds, within the camera chosen), a failed page says so without
losing anything, and the page stops at the oldest alert or at the most it holds.

The page's clock is paused after the first refresh, so each later refresh happens exactly when a
test runs the clock on: what a refresh finds is decided, never raced."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, HttpConfig
from gateway.delivery.outbox import Outbox
from gateway.domain import AlertEvent, AlertKind, CameraState, EndReason, ModelRef
from tests.support.console_app import OneCamera
from tests.unit.api.fakes import FakeBackend, FakeCameras
from tests.unit.api.harness import ServedApi

UI_WAIT_MS = 15_000
REFRESH_MS = 2000
"""The console's refresh period (shell.js)."""
NEWEST_READ = re.compile(r"/v1/events\?limit=\d+(&camera=[^&]+)?$")
"""The refresh's read of the newest alerts, of the camera chosen if any (a read further back names
``before``)."""
START_TS = 1_764_000_000.0
MODEL = ModelRef("person-detector", 1)


RARE = "cat"
"""The label of one event alone, to choose it by (the label is the filter the page applies to what
it holds; the camera, the rule and the time are read from the gateway)."""


def alert_event(
    number: int, kind: AlertKind, camera_id: str, at: float, label: str | None = None
) -> AlertEvent:
    return AlertEvent(
        event_id=f"event-{number}",
        kind=kind,
        camera_id=camera_id,
        rule="person-in-yard",
        label=label or ("person" if number % 2 else "dog"),
        score=0.8,
        zone="yard",
        box=(0.1, 0.2, 0.3, 0.4),
        frame_ts=at,
        model=MODEL,
        end_reason=EndReason.CLEARED if kind is AlertKind.END else None,
    )


def history(first: int, events: int, gate_every: int, seq: int) -> list[AlertEvent]:
    """``events`` events numbered from ``first``, a start and an end each, the alert of ``seq`` one
    second after START_TS per seq; every ``gate_every``-th on camera ``gate``, the rest on ``yard``."""
    made: list[AlertEvent] = []
    for number in range(first, first + events):
        camera_id = "gate" if number % gate_every == gate_every - 1 else "yard"
        for kind in (AlertKind.START, AlertKind.END):
            made.append(alert_event(number, kind, camera_id, START_TS + seq + len(made)))
    return made


def day() -> list[AlertEvent]:
    """2,500 alerts: seq 1 an instant crossing, then starts on even seqs and ends on odd ones up to
    seq 2499, and a start left open at 2500. The newest 1,000 (1501..2500) begin with the end of
    event 749 (gate, the one of label RARE), whose start is seq 1500: on the page before."""
    crossing = alert_event(-1, AlertKind.INSTANT, "yard", START_TS + 1)
    opened = alert_event(1249, AlertKind.START, "yard", START_TS + 2500)
    events = [
        dataclasses.replace(event, label=RARE) if event.event_id == "event-749" else event
        for event in history(0, 1249, 50, 2)
    ]
    return [crossing, *events, opened]


@dataclass
class Served:
    base: str
    outbox: Outbox


@contextmanager
def served(state_dir: Path, alerts: list[AlertEvent], cameras: FakeCameras | None = None) -> Iterator[Served]:
    """The app over a real outbox holding ``alerts``; ``cameras`` lists the cameras (by default one,
    ``yard``)."""
    outbox = Outbox(state_dir, "probe", bytes(range(32)))
    backend = FakeBackend()
    try:
        outbox.append_many(alerts)
        app = create_app(
            http=HttpConfig(),
            admission=AdmissionConfig(),
            inference=backend,
            cameras=cameras if cameras is not None else OneCamera("yard", CameraState.STREAMING, None),
            events=outbox,
            registry=CollectorRegistry(),
        )
        with closing(ServedApi(app)) as api:
            yield Served(f"http://127.0.0.1:{api.port}", outbox)
    finally:
        backend.close()
        outbox.close()


def events_page(browser: Browser, served: Served, held_text: str, script: str | None = None) -> Page:
    """The events page after its first refresh, its clock paused: later refreshes wait for
    ``refresh``. ``script`` runs in the page before the console's own."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    if script is not None:
        page.add_init_script(script)
    page.clock.install(time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    page.clock.pause_at(datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc))
    page.goto(served.base + "/#/events")
    expect(status(page)).to_have_text(held_text, timeout=UI_WAIT_MS)
    return page


def refresh(page: Page) -> None:
    """Run the page's clock on until its next refresh reads the newest alerts. The shell sets the
    refresh timer once the previous refresh is over, which a test cannot see: until that read starts,
    the clock is run on again."""
    for _ in range(30):
        try:
            with page.expect_request(lambda request: bool(NEWEST_READ.search(request.url)), timeout=500):
                page.clock.run_for(REFRESH_MS)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError("the events page did not refresh")


def status(page: Page) -> Locator:
    return page.locator("main p[role=status]")


def shown_events(page: Page) -> list[str]:
    ids: list[str] = page.evaluate(
        "[...document.querySelectorAll('li.event')].map(card => card.dataset.event)"
    )
    return ids


def shown_alert_links(page: Page) -> list[str]:
    """The links to the raw alerts on the cards shown, one per alert."""
    hrefs: list[str] = page.evaluate(
        "[...document.querySelectorAll('li.event a[href^=\"/v1/events/\"]')].map(link => link.href)"
    )
    return hrefs


def test_older_joins_an_event_across_pages_and_filters_apply_to_all_held(
    browser: Browser, tmp_path: Path
) -> None:
    with served(tmp_path, day()) as gateway:
        page = events_page(browser, gateway, "501 events in the newest 1000 alerts, newest 100 shown")
        older = page.locator("#older")
        expect(older).to_have_text("Older events")
        # Given the label of the newest page's oldest event alone, whose start is on the page before,
        page.get_by_label("Label").select_option(RARE)
        expect(status(page)).to_have_text("1 event in the newest 1000 alerts")
        split = page.locator("li.event[data-event='event-749']")
        expect(split).to_contain_text("started before the alerts shown")
        expect(split).to_contain_text("alerts: end #1501")
        expect(split).not_to_contain_text("lasted")
        # when Older reads back (two pages: the second is the last),
        older.click()
        # then the event is one card with its start.
        expect(older).to_have_text(
            "No older events: all alerts on the gateway are loaded", timeout=UI_WAIT_MS
        )
        expect(older).to_be_disabled()
        expect(status(page)).to_have_text("1 event")
        expect(split).to_contain_text("alerts: start #1500, end #1501")
        expect(split).to_contain_text("lasted 1.0 s")
        expect(split).not_to_contain_text("started before the alerts shown")
        assert shown_events(page) == ["event-749"]
        # The label applies to everything held: with none chosen, every event read;
        page.get_by_label("Label").select_option("")
        expect(status(page)).to_have_text(re.compile(r"^1251 events, newest \d+ shown$"))
        # another label's, down to where Older reached (event 749), and Older shows the rest held.
        page.get_by_label("Label").select_option("dog")
        expect(status(page)).to_have_text("625 events, newest 250 shown")
        for shown_now in (350, 450, 550):
            older.click()
            expect(status(page)).to_have_text(f"625 events, newest {shown_now} shown")
        older.click()
        expect(status(page)).to_have_text("625 events")
        shown = shown_events(page)
        assert len(set(shown)) == len(shown) == 625
        assert shown[-1] == "event-0"


def test_the_live_refresh_adds_the_newest_of_the_camera_chosen_without_a_gap_or_a_twin(
    browser: Browser, tmp_path: Path
) -> None:
    with served(tmp_path, day()) as gateway:
        page = events_page(browser, gateway, "501 events in the newest 1000 alerts, newest 100 shown")
        older = page.locator("#older")
        page.get_by_label("Camera").select_option("gate")
        expect(status(page)).to_have_text("24 events", timeout=UI_WAIT_MS)
        # Given three new events, one on the gate,
        gateway.outbox.append_many(history(2000, 3, 3, 2501))
        refresh(page)
        expect(status(page)).to_have_text("25 events", timeout=UI_WAIT_MS)
        # when 1,200 of the gate's alerts arrive between two refreshes, more than one answer holds,
        gateway.outbox.append_many(history(3000, 600, 1, 2507))
        refresh(page)
        # then the refresh reads the gate's back to what it held: every event once, none missing,
        # and none of another camera's (the yard's two new events lie in the gap).
        expect(status(page)).to_have_text("625 events, newest 100 shown", timeout=UI_WAIT_MS)
        for shown_count in range(200, 700, 100):
            older.click()
            expect(status(page)).to_have_text(f"625 events, newest {shown_count} shown")
        older.click()
        expect(status(page)).to_have_text("625 events")
        shown = shown_events(page)
        assert len(shown) == len(set(shown)) == 625
        links = shown_alert_links(page)
        assert len(links) == len(set(links)) == 2 * 625, "an alert shown twice, or one missing"
        expect(page.locator("li.event").filter(has_not_text="camera gate")).to_have_count(0)
        # "all cameras" is a run of its own, read again from the newest.
        page.get_by_label("Camera").select_option("")
        expect(status(page)).to_have_text(
            "500 events in the newest 1000 alerts, newest 100 shown", timeout=UI_WAIT_MS
        )


def test_a_refresh_reads_the_newest_few_alerts_not_a_whole_page(browser: Browser, tmp_path: Path) -> None:
    with served(tmp_path, day()) as gateway:
        page = events_page(browser, gateway, "501 events in the newest 1000 alerts, newest 100 shown")
        reads: list[str] = []
        page.on(
            "request", lambda request: reads.append(request.url) if "/v1/events?" in request.url else None
        )
        # Given three new events (six alerts) since the page read the newest 1,000,
        gateway.outbox.append_many(history(2000, 3, 3, 2501))
        refresh(page)
        # the refresh adds them, having asked for the newest hundred alone (each refresh asked for a
        # thousand, every two seconds the page was open).
        expect(status(page)).to_have_text(
            "504 events in the newest 1006 alerts, newest 100 shown", timeout=UI_WAIT_MS
        )
        assert reads == [f"{gateway.base}/v1/events?limit=100"]


def test_a_failed_older_page_says_so_keeps_what_is_shown_and_clears_on_success(
    browser: Browser, tmp_path: Path
) -> None:
    with served(tmp_path, day()) as gateway:
        page = events_page(browser, gateway, "501 events in the newest 1000 alerts, newest 100 shown")
        page.get_by_label("Label").select_option(RARE)
        expect(status(page)).to_have_text("1 event in the newest 1000 alerts")
        before = shown_events(page)
        # Given the gateway failing the next page back,
        page.route(
            re.compile(r"/v1/events\?.*before="),
            lambda route: route.fulfill(status=500, json={"error": "outbox read failed: disk I/O error"}),
        )
        page.locator("#older").click()
        # then the page says so, and what it showed stays.
        error = page.get_by_role("alert")
        expect(error).to_have_text(
            "Older events not loaded: outbox read failed: disk I/O error", timeout=UI_WAIT_MS
        )
        expect(page.locator("#older")).to_be_enabled()
        expect(status(page)).to_have_text("1 event in the newest 1000 alerts")
        assert shown_events(page) == before
        # When the gateway answers again, Older reads on and the error goes.
        page.unroute(re.compile(r"/v1/events\?.*before="))
        page.locator("#older").click()
        expect(status(page)).to_have_text("1 event", timeout=UI_WAIT_MS)
        expect(page.locator("li.event[data-event='event-749']")).to_contain_text("start #1500")
        expect(error).to_be_hidden()


def test_the_page_holds_a_bounded_run_and_says_when_it_can_read_no_further(
    browser: Browser, tmp_path: Path
) -> None:
    # 22,000 alerts, 11,000 events; the page holds the newest 20,000 alerts at most. The oldest
    # event's label is RARE, which the page never reads.
    made = history(0, 11_000, 1000, 1)
    with served(tmp_path, [dataclasses.replace(made[0], label=RARE), *made[1:]]) as gateway:
        page = events_page(browser, gateway, "500 events in the newest 1000 alerts, newest 100 shown")
        # Given a label no event read has (chosen through the page's address: its dropdown lists only
        # the labels read), Older reads back as far as the page holds,
        page.goto(gateway.base + f"/#/events/label%3D{RARE}")
        expect(status(page)).to_have_text("No events match in the newest 1000 alerts.", timeout=UI_WAIT_MS)
        older = page.locator("#older")
        older.click()
        expect(older).to_have_text(
            "No older events here: this page holds the newest 20000 alerts at most; "
            "choose From and To to read further back",
            timeout=UI_WAIT_MS,
        )
        expect(older).to_be_disabled()
        expect(status(page)).to_have_text("No events match in the newest 20000 alerts.")
        # and a new event pushes the oldest alerts out: the run stays at its bound.
        gateway.outbox.append_many(history(20_000, 1, 1000, 22_001))
        refresh(page)
        page.get_by_label("Label").select_option("")
        expect(status(page)).to_have_text(
            "10000 events in the newest 20000 alerts, newest 100 shown", timeout=UI_WAIT_MS
        )
        expect(page.locator("li.event").first).to_have_attribute("data-event", "event-20000")
        expect(older).to_be_enabled()
