"""The shell by keyboard alone, in the real browser against the real app: after a login
the focus is on the page shown, so the next Tab goes into it (it fell to the document's body, a
keyboard user starting again from the skip link); and a logged-out page shows no health badge (an
answer refused for want of a session showed a red one over the login form); and the skip link
skips to the content of the page shown (it showed the cameras page, whatever page it was on); and
the window's title names the page shown (every page, the login form too, was titled alike); and the
pages' links are hidden while the login form is shown (each of them led back to the form); and on a
phone the links lie on one row under the header's first (squeezed beside the name and the badge,
each took a row of its own, the header a quarter of the screen)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app

CAMERA = "gate"
CONFIG = f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n"
TOKEN = "keyboard-token-0123456789abcdef"
UI_WAIT_MS = 15_000


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    return tmp_path / "gateway.yaml"


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    (tmp_path / "tokens").write_text(TOKEN + "\n")
    return tmp_path / "tokens"


def test_a_keyboard_login_puts_the_focus_on_the_page_and_a_logout_hides_the_badge_and_links(
    config_path: Path, tokens: Path, browser: Browser
) -> None:
    with console_app(
        OneCamera(CAMERA, CameraState.STREAMING, None), config_path, tokens_file=tokens
    ) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        # Given a login typed and sent with Enter (the form has the focus when it is shown),
        expect(page.get_by_label("API token")).to_be_focused(timeout=UI_WAIT_MS)
        links = page.get_by_role("navigation", name="Pages")
        expect(links).to_be_hidden()
        page.keyboard.type(TOKEN)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Cameras")).to_be_visible(timeout=UI_WAIT_MS)
        # the focus is on the page shown, and Tab goes to its first link (once the cameras' answer
        # has put it there: the heading comes before it, and a Tab pressed between the two left the
        # page, the test failing on a loaded machine).
        expect(page.locator("#view")).to_be_focused()
        expect(links).to_be_visible()
        camera_link = page.get_by_role("link", name=CAMERA)
        expect(camera_link).to_be_visible(timeout=UI_WAIT_MS)
        page.keyboard.press("Tab")
        expect(camera_link).to_be_focused()
        # Logged out by keyboard, the login form has the focus and no health badge or link is shown.
        page.locator("#logout").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_label("API token")).to_be_focused(timeout=UI_WAIT_MS)
        expect(page.locator("#health")).to_be_hidden()
        expect(links).to_be_hidden()


def test_the_skip_link_skips_to_the_content_of_the_page_shown(config_path: Path, browser: Browser) -> None:
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config_path) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(page.get_by_role("heading", name="Events")).to_be_visible(timeout=UI_WAIT_MS)
        # Given the skip link, the first stop of Tab, followed with Enter,
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.keyboard.press("Enter")
        # the same page's content has the focus (the link's "#view" was taken for a page's name, and
        # the first page shown instead).
        expect(page.locator("#view")).to_be_focused()
        expect(page.get_by_role("heading", name="Events")).to_be_visible()
        assert page.url.endswith("#/events"), page.url


def test_the_windows_title_names_the_page_shown(config_path: Path, tokens: Path, browser: Browser) -> None:
    with console_app(
        OneCamera(CAMERA, CameraState.STREAMING, None), config_path, tokens_file=tokens
    ) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(page).to_have_title("Log in · edge-gateway console", timeout=UI_WAIT_MS)
        page.get_by_label("API token").fill(TOKEN)
        page.keyboard.press("Enter")
        expect(page).to_have_title("Events · edge-gateway console", timeout=UI_WAIT_MS)
        page.get_by_role("link", name="Models").click()
        expect(page).to_have_title("Models · edge-gateway console", timeout=UI_WAIT_MS)
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        expect(page).to_have_title(f"Camera {CAMERA} · edge-gateway console", timeout=UI_WAIT_MS)


def test_on_a_phone_the_pages_links_lie_on_one_row_under_the_name_and_the_badge(
    config_path: Path, tokens: Path, browser: Browser
) -> None:
    with console_app(
        OneCamera(CAMERA, CameraState.STREAMING, None), config_path, tokens_file=tokens
    ) as served:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        page.get_by_label("API token").fill(TOKEN)
        page.keyboard.press("Enter")
        expect(page.locator("#logout")).to_be_visible(timeout=UI_WAIT_MS)
        links = "[...document.querySelectorAll('header nav a')]"
        tops = page.evaluate(f"() => {links}.map((link) => link.getBoundingClientRect().top)")
        assert len(tops) == 4
        assert max(tops) - min(tops) < 1, f"the links' tops: {tops}"
        bottom_of = "(selector) => document.querySelector(selector).getBoundingClientRect().bottom"
        for above in (".brand", "#logout"):
            assert page.evaluate(bottom_of, above) <= min(tops), f"{above} is not above the links"
        header = page.locator("header").bounding_box()
        assert header is not None
        assert header["height"] < 120, f"the header is {header['height']} px high"
