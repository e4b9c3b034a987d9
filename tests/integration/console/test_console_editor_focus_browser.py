"""The zone and line editor as the keyboard reaches it, in the real browser against the real app:
the element Tab focuses is the editor, named and described by its keys. The name was on the
picture's drawing, which takes no focus, so the focused frame was announced by the note it held
("Waiting for the first picture…") or by nothing, with no word of what the keys do there."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, console_app

CAMERA = "gate"
CONFIG = f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n"
UI_WAIT_MS = 15_000


def test_tab_reaches_the_editor_by_its_name_and_its_keys(tmp_path: Path, browser: Browser) -> None:
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(CONFIG)
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config_path) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        back = page.get_by_role("link", name="← All cameras")
        expect(page.get_by_role("button", name="Draw zone")).to_be_enabled(timeout=UI_WAIT_MS)
        # Given the keyboard on the link before the editor, when Tab is pressed,
        back.focus()
        page.keyboard.press("Tab")
        # the focus is on the editor, which a screen reader names and whose keys it reads out.
        editor = page.get_by_role("application", name="Geometry editor")
        expect(editor).to_be_focused()
        expect(editor).to_have_accessible_description(re.compile(r"^Keyboard: .*arrow keys move it"))
