"""The zone and line editor as the keyboard reaches it, in the real browser against the real app:
the element Tab focuses is the editor, named and described by its keys. The name was on the
picture's drawing, which takes no focus, so the focused frame was announced by the note it held
("Waiting for the first picture…") or by nothing, with no word of what the keys do there."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.support.console_pages import camera_config, camera_editor

CAMERA = "gate"
CONFIG = camera_config(CAMERA, {})


def test_tab_reaches_the_editor_by_its_name_and_its_keys(tmp_path: Path, browser: Browser) -> None:
    with camera_editor(browser, tmp_path / "gateway.yaml", CONFIG, CAMERA) as page:
        back = page.get_by_role("link", name="← All cameras")
        # Given the keyboard on the link before the editor, when Tab is pressed,
        back.focus()
        page.keyboard.press("Tab")
        # the focus is on the editor, which a screen reader names and whose keys it reads out.
        editor = page.get_by_role("application", name="Geometry editor")
        expect(editor).to_be_focused()
        expect(editor).to_have_accessible_description(re.compile(r"^Keyboard: .*arrow keys move it"))
