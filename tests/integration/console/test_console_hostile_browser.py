"""The console fed what a config and a model allow but a demo never shows, in the real browser
against the real app: 64-character camera ids and zone names, a model label with markup, quotes, a
right-to-left override and no space for 150 characters; a zone closed by double-click; a camera that
has never delivered a picture. The camera directory and event log are hand-written fakes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from gateway.config import load_config
from gateway.domain import Alert, CameraState
from tests.support.console_app import OneCamera, alerts, console_app
from tests.unit.api.fakes import FakeEvents

UI_WAIT_MS = 15_000
CAMERA = "a.b-c_" + "x" * 58
ZONE = "Z.1-" + "y" * 60
RULE = "r." + "q" * 62
LABEL = "<img src=x onerror=window.__xss=1>\u202eFACE \"q' " + "W" * 150
CONFIG = f"""\
cameras:
  - id: {CAMERA}   # the longest id the config allows
    url: rtsp://10.0.0.5/stream1
    model: person-detector
    zones:
      - {{name: {ZONE}, polygon: [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]}}
    rules:
      - {{name: {RULE}, zones: [{ZONE}]}}
"""


def jpeg() -> bytes:
    encoded, data = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    return tmp_path / "gateway.yaml"


def streaming() -> OneCamera:
    return OneCamera(CAMERA, CameraState.STREAMING, None)


def sideways(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def test_long_names_and_a_hostile_label_wrap_as_text_and_never_widen_the_page(
    config_path: Path, browser: Browser
) -> None:
    cameras = streaming()
    with console_app(cameras, config_path, alerts(CAMERA, RULE, LABEL, 3)) as served:
        page = browser.new_page()
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(f"http://127.0.0.1:{served.port}/#/events")
            expect(page.locator("li.event")).to_have_count(3, timeout=UI_WAIT_MS)
            # The label is text, never markup.
            expect(page.locator("li.event h2").first).to_have_text(f"{RULE}: {LABEL}")
            assert page.evaluate("window.__xss") is None
            assert page.locator("li.event img:not([src^='/v1/events/'])").count() == 0
            assert sideways(page) <= 0, f"the events page scrolls sideways at {width} px"
            page.locator("li.event summary").first.click()
            expect(page.locator("li.event pre.raw").first).to_contain_text(LABEL[-150:])
            assert sideways(page) <= 0, f"the signed JSON opened widens the events page at {width} px"
            for route in ("#/cameras", f"#/camera/{CAMERA}"):
                page.goto(f"http://127.0.0.1:{served.port}/{route}")
                expect(page.get_by_role("heading", name=CAMERA).first).to_be_visible(timeout=UI_WAIT_MS)
                if route != "#/cameras":
                    expect(page.get_by_role("button", name=f"Zone {ZONE}")).to_be_visible(timeout=UI_WAIT_MS)
                assert sideways(page) <= 0, f"{route} scrolls sideways at {width} px"


def test_a_double_click_closes_the_zone_being_drawn(config_path: Path, browser: Browser) -> None:
    cameras = streaming()
    with console_app(cameras, config_path) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        draw = page.get_by_role("button", name="Draw zone")
        expect(draw).to_be_enabled(timeout=UI_WAIT_MS)
        box = page.get_by_role("application", name="Geometry editor").bounding_box()
        assert box is not None
        # Given three corners clicked, when the fourth is double-clicked (as the status line says),
        draw.click()
        for x, y in ((0.1, 0.1), (0.4, 0.1), (0.4, 0.4)):
            page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.dblclick(box["x"] + 0.1 * box["width"], box["y"] + 0.4 * box["height"])
        # then the zone is closed with four corners, and saved so.
        expect(page.get_by_role("button", name="Zone zone-1")).to_be_visible(timeout=UI_WAIT_MS)
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
        zones = load_config(config_path).cameras[0].zones
        assert [zone.name for zone in zones] == [ZONE, "zone-1"]
        assert len(zones[1].polygon) == 4, zones[1].polygon


def test_a_camera_that_never_streamed_says_so_where_its_picture_would_be(
    config_path: Path, browser: Browser
) -> None:
    cameras = OneCamera(CAMERA, CameraState.FAILED, None)
    with console_app(cameras, config_path) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        tile = page.locator("article.tile")
        expect(tile.get_by_text("No picture: the camera is failed")).to_be_visible(timeout=UI_WAIT_MS)
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        expect(page.locator(".stage").get_by_text("No picture: the camera is failed")).to_be_visible(
            timeout=UI_WAIT_MS
        )


def test_a_hash_with_an_escape_no_utf_8_decodes_still_changes_the_page(
    config_path: Path, browser: Browser
) -> None:
    with console_app(streaming(), config_path) as served:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(page.get_by_role("heading", name="Events")).to_be_visible(timeout=UI_WAIT_MS)
        page.evaluate("location.hash = '#/camera/%E0%A4%A'")
        expect(page.get_by_role("heading", name="Camera %E0%A4%A")).to_be_visible(timeout=UI_WAIT_MS)
        assert errors == []


def test_the_note_goes_once_the_camera_shows_a_picture(config_path: Path, browser: Browser) -> None:
    cameras = streaming()
    with console_app(cameras, config_path) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        note = page.locator(".stage").get_by_text("Waiting for the first picture…")
        expect(note).to_be_visible(timeout=UI_WAIT_MS)
        cameras.jpeg = jpeg()
        expect(note).to_be_hidden(timeout=UI_WAIT_MS)


def line_across(page: Page, x: float) -> None:
    box = page.get_by_role("application", name="Geometry editor").bounding_box()
    assert box is not None
    page.get_by_role("button", name="Draw line").click()
    for y in (0.1, 0.9):
        page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def test_a_stale_tab_cannot_undo_what_another_tab_saved(config_path: Path, browser: Browser) -> None:
    cameras = streaming()
    with console_app(cameras, config_path) as served:
        context = browser.new_context()
        first, second = context.new_page(), context.new_page()
        for page in (first, second):
            page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
            expect(page.get_by_role("button", name="Draw line")).to_be_enabled(timeout=UI_WAIT_MS)
        # Given the first tab has an edit of its own (a tab without one takes what another saved),
        line_across(first, 0.2)
        expect(first.get_by_role("button", name="Save")).to_be_enabled()
        # and the second tab then saved a line,
        line_across(second, 0.8)
        second.get_by_role("button", name="Save").click()
        expect(second.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
        # when the first, loaded before, saves its own edit,
        first.get_by_role("button", name="Save").click()
        # then it is refused and the saved line stays.
        expect(first.get_by_text(re.compile("^Not saved: .*changed after this editor loaded"))).to_be_visible(
            timeout=UI_WAIT_MS
        )
        assert [line.points[0][0] for line in load_config(config_path).cameras[0].lines] == [0.8]
        # Revert loads both; a save from there goes through.
        first.get_by_role("button", name="Revert").click()
        # (The tab's own line counted one too: the revert has loaded once nothing is left to revert.)
        expect(first.get_by_role("button", name="Revert")).to_be_disabled(timeout=UI_WAIT_MS)
        expect(first.get_by_role("button", name=re.compile("^Line "))).to_have_count(1, timeout=UI_WAIT_MS)
        line_across(first, 0.2)
        first.get_by_role("button", name="Save").click()
        expect(first.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
        assert len(load_config(config_path).cameras[0].lines) == 2
        context.close()


def two_tabs(browser: Browser, base: str, refreshing: bool = True) -> tuple[BrowserContext, Page, Page]:
    """A browser logged in, with the editor open in one tab and a second tab, blank. Unless
    ``refreshing``, the browser's clock (both tabs') is paused: a page reads the gateway when shown
    and when acted on, never again by itself."""
    context = browser.new_context()
    if not refreshing:
        context.clock.install(time=STARTED_AT)
        context.clock.pause_at(PAUSED_AT)
    editor, other = context.new_page(), context.new_page()
    editor.goto(base + "/")
    editor.get_by_label("API token").fill(TOKEN)
    editor.get_by_role("button", name="Log in").click()
    expect(editor.get_by_role("heading", name="Cameras")).to_be_visible(timeout=UI_WAIT_MS)
    editor.goto(f"{base}/#/camera/{CAMERA}")
    expect(editor.get_by_role("button", name="Draw line")).to_be_enabled(timeout=UI_WAIT_MS)
    return context, editor, other


TOKEN = "probe-token-0123456789abcdef"
STARTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
PAUSED_AT = datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc)  # later: the clock runs from its start


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(TOKEN + "\n")
    return path


def test_a_save_after_a_login_in_another_tab_goes_through(
    config_path: Path, browser: Browser, tokens: Path
) -> None:
    with console_app(streaming(), config_path, tokens_file=tokens) as served:
        # The editor does not refresh: one refresh while the other tab is logged out is answered 401,
        # and the editor shows the login form instead (test_unsaved_edits_survive_an_expired_session);
        # with its answers slow, the test failed so.
        context, editor, other = two_tabs(browser, f"http://127.0.0.1:{served.port}", refreshing=False)
        line_across(editor, 0.3)
        # Given another tab logged out and in again (a new session, a new CSRF token),
        other.goto(editor.url.split("#")[0] + "#/system")
        other.get_by_role("button", name="Log out").click()
        other.get_by_label("API token").fill(TOKEN)
        other.get_by_role("button", name="Log in").click()
        expect(other.get_by_role("heading", name="System")).to_be_visible(timeout=UI_WAIT_MS)
        # the editor's save still goes through.
        editor.get_by_role("button", name="Save").click()
        expect(editor.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
        assert len(load_config(config_path).cameras[0].lines) == 1
        context.close()


def test_unsaved_edits_survive_an_expired_session(config_path: Path, browser: Browser, tokens: Path) -> None:
    with console_app(streaming(), config_path, tokens_file=tokens) as served:
        context, editor, other = two_tabs(browser, f"http://127.0.0.1:{served.port}")
        # Given an unsaved line when the session ends elsewhere (as an expiry or a restart ends it),
        line_across(editor, 0.6)
        other.goto(editor.url.split("#")[0] + "#/system")
        other.get_by_role("button", name="Log out").click()
        expect(editor.get_by_label("API token")).to_be_visible(timeout=UI_WAIT_MS)
        # when the user logs in again, the unsaved line is still there to save.
        editor.get_by_label("API token").fill(TOKEN)
        editor.get_by_role("button", name="Log in").click()
        expect(editor.get_by_role("button", name=re.compile("^Line "))).to_have_count(1, timeout=UI_WAIT_MS)
        expect(editor.get_by_text("Your unsaved changes are kept")).to_be_visible()
        editor.get_by_role("button", name="Save").click()
        expect(editor.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
        assert len(load_config(config_path).cameras[0].lines) == 1
        context.close()


class FailingOnce(FakeEvents):
    """An event log whose first read fails (a 500), as a busy disk might."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def recent_alerts(
        self,
        limit: int,
        camera_id: str | None = None,
        before_seq: int | None = None,
        *,
        rule: str | None = None,
        label: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Sequence[Alert]:
        if not self.failed:
            self.failed = True
            raise OSError("disk I/O error")
        return super().recent_alerts(
            limit, camera_id, before_seq, rule=rule, label=label, since=since, until=until
        )


def test_an_events_error_once_over_is_no_longer_shown_as_one(config_path: Path, browser: Browser) -> None:
    cameras = streaming()
    events = FailingOnce()
    events.alerts = alerts(CAMERA, RULE, "person", 2)
    with console_app(cameras, config_path, fake_events=events) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        message = page.locator("main p[role=status]")
        expect(message).to_have_class("error", timeout=UI_WAIT_MS)
        expect(message).to_have_text("2 events", timeout=UI_WAIT_MS)
        expect(message).to_have_class("muted")


def test_the_event_count_says_it_is_of_the_newest_alerts_only(config_path: Path, browser: Browser) -> None:
    # 3,000 events, 6,000 alerts: the page reads the newest 1,000 (500 events) of them.
    with console_app(streaming(), config_path, alerts(CAMERA, RULE, "person", 3000)) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(page.locator("main p[role=status]")).to_have_text(
            "500 events in the newest 1000 alerts, newest 100 shown", timeout=UI_WAIT_MS
        )
        expect(page.locator("li.event")).to_have_count(100)
