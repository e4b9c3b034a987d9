"""A refusal that answers a request of a session already over, in the real browser against the real
app: a refresh's read on its way across a logout and a new login, answered 401 once the new login
is in, leaves the page logged in. It showed the login form again just after the login (on a slow
link, as the refresh's answers of the old session came in), and a page chosen next showed it too.
The read's answer is held back here and given as the ended session's server gave it."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, Request, expect

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app
from tests.support.console_pages import UI_WAIT_MS, camera_config
from tests.support.held_requests import held_route, hold_the_first

TOKEN = "stale-refusal-token-0123456789"
STATUS = "**/v1/status"


def log_in(page: Page, heading: str) -> None:
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=UI_WAIT_MS)


def test_a_refusal_of_the_session_before_a_login_leaves_the_page_logged_in(
    tmp_path: Path, browser: Browser
) -> None:
    (tmp_path / "gateway.yaml").write_text(camera_config("gate", {}))
    (tmp_path / "tokens").write_text(TOKEN + "\n")
    camera = OneCamera("gate", CameraState.STREAMING, None)
    with console_app(camera, tmp_path / "gateway.yaml", tokens_file=tmp_path / "tokens") as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        log_in(page, "Events")
        held = hold_the_first(page, STATUS)
        route = held_route(page, held, "the status read")
        # Given a refresh's read on its way when the user logs out and in again,
        page.get_by_role("button", name="Log out").click()
        log_in(page, "Events")
        # when its answer comes after the login, refused as the session it was sent in has ended,
        request = route.request

        def is_held(finished: Request) -> bool:
            return finished == request

        with page.expect_event("requestfinished", is_held):
            route.fulfill(status=401, json={"error": "no session: log in"})
        # then the page stays logged in: the next page chosen is shown, not the login form.
        page.get_by_role("link", name="Models").click()
        expect(page.get_by_role("heading", name="Models")).to_be_visible(timeout=UI_WAIT_MS)
        expect(page.get_by_label("API token")).to_have_count(0)
