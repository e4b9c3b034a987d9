"""The console's System page in a real browser (Debian's chromium): its message line styled by what
the latest refresh found alone, and no state claimed while its refreshes fail.

- a refresh that failed (a 503) styled the line as an error, and the refresh that succeeded after it
  emptied the line but left the style: any text put there next without a style of its own showed as
  an error;
- a server run without the camera pipeline (its ``/v1/status`` answers 404) is run so on purpose,
  and said so in the error style;
- after a refresh failed, the page kept the cards of the last status it read under the error line, a
  green "healthy" pill among them: a reader saw the gateway healthy while its state was unknown. The
  cards stay, said to be as last read and when, with the health verdict "unknown" and no pill
  coloured by a state, until a refresh succeeds again.

The real API app on 127.0.0.1 over a hand-written gateway state; the 503 is the browser's own route.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app, steady_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT
from tests.unit.api.fakes import FakeBackend
from tests.unit.api.harness import ServedApi

UNAVAILABLE = "the gateway's state is unavailable"
ERROR_CLASS = re.compile(r"(^|\s)error(\s|$)")
STATE_COLOUR = re.compile(r"(^|\s)(ok|bad)(\s|$)")
AS_READ = re.compile(r"^What follows was read at .+; the gateway's state now is unknown\.$")


@pytest.fixture
def served() -> Iterator[ServedApi]:
    with closing(FakeBackend()) as backend, steady_app(backend) as api:
        yield api


def test_the_message_emptied_after_an_error_is_no_error(browser: Browser, served: ServedApi) -> None:
    errors: list[str] = []
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{served.port}/#/system")
    message = page.locator("main p[role=status]")
    expect(page.get_by_role("heading", name="Alert delivery")).to_be_visible(timeout=UI_WAIT_MS)
    expect(message).to_have_text("")

    # Given the refreshes answered 503 until the page shows that as an error
    def unavailable(route: Route) -> None:
        route.fulfill(status=503, json={"error": UNAVAILABLE})

    page.route("**/v1/status", unavailable)
    expect(message).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(message).to_have_class(ERROR_CLASS)

    # When a refresh succeeds, then the line is emptied, and its error style goes with the error
    page.unroute("**/v1/status")
    expect(message).to_have_text("", timeout=UI_WAIT_MS)
    expect(message).not_to_have_class(ERROR_CLASS)
    expect(page.get_by_role("heading", name="Alert delivery")).to_be_visible()
    assert errors == []


def test_a_server_without_the_camera_pipeline_is_no_error(browser: Browser, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("cameras:\n  - id: gate\n    url: rtsp://10.0.0.5/stream1\n")
    errors: list[str] = []
    with console_app(OneCamera("gate", CameraState.STREAMING, None), config) as app:
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{app.port}/#/system")
        message = page.locator("main p[role=status]")
        expect(message).to_have_text("This server runs without the camera pipeline.", timeout=UI_WAIT_MS)
        expect(message).not_to_have_class(ERROR_CLASS)
        expect(message).to_have_class("muted")
        assert errors == []


def test_a_failed_refresh_leaves_no_healthy_verdict_shown(browser: Browser, served: ServedApi) -> None:
    errors: list[str] = []
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{served.port}/#/system")
    message = page.locator("main p[role=status]")
    verdict = page.get_by_role("region", name="Health").locator(".pill")
    as_read = page.get_by_text(AS_READ)
    expect(verdict).to_have_text("healthy", timeout=UI_WAIT_MS)
    expect(verdict).to_have_class(re.compile(r"(^|\s)ok(\s|$)"))
    expect(as_read).to_be_hidden()

    # Given the refreshes of the status answered 503
    def unavailable(route: Route) -> None:
        route.fulfill(status=503, json={"error": UNAVAILABLE})

    page.route("**/v1/status", unavailable)
    expect(message).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)

    # Then the cards are said to be as last read, the verdict is unknown and no pill has a state's colour
    expect(as_read).to_be_visible(timeout=UI_WAIT_MS)
    expect(verdict).to_have_text("unknown")
    for pill in page.locator("main .pill").all():
        expect(pill).not_to_have_class(STATE_COLOUR)
    expect(page.get_by_role("region", name="Alert delivery")).to_be_visible()

    # When a refresh succeeds again, then the verdict is the gateway's and the cards are current
    page.unroute("**/v1/status")
    expect(verdict).to_have_text("healthy", timeout=UI_WAIT_MS)
    expect(verdict).to_have_class(re.compile(r"(^|\s)ok(\s|$)"))
    expect(as_read).to_be_hidden()
    expect(message).to_have_text("")
    assert errors == []


def test_the_cards_share_a_wide_screens_row(browser: Browser, served: ServedApi) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"http://127.0.0.1:{served.port}/#/system")
    expect(page.get_by_role("heading", name="Alert delivery")).to_be_visible(timeout=UI_WAIT_MS)
    # Three cards side by side, the row's whole width between them: no empty column beside them
    edges = page.evaluate(
        """() => {
  const grid = document.querySelector("main .grid").getBoundingClientRect();
  const cards = [...document.querySelectorAll("main .grid > .card")].map(
    (card) => card.getBoundingClientRect(),
  );
  return { right: grid.right, tops: cards.map((card) => card.top), rights: cards.map((card) => card.right) };
}"""
    )
    assert len(set(edges["tops"])) == 1, edges
    assert edges["rights"][-1] == pytest.approx(edges["right"], abs=1), edges
    page.close()
