"""Renaming a shape in the geometry editor, in the real browser against the real app and config file.

A name long enough to wrap in the shape list, typed and then saved with one click on Save, is saved:
the list used to take the new name only when the name field lost focus, to that very click, so the
buttons below the list moved down under the pointer between its press and its release, and the
click, Save's, never happened. A refused save says so until its edits are reverted, not after."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.config import load_config
from tests.support.console_pages import UI_WAIT_MS, camera_config, camera_editor

CAMERA = "gate"
CONFIG = camera_config(CAMERA, {"a": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]})
LONG_NAME = "loading-bay-north." + "x" * 46  # the longest name a zone may have


def test_a_long_name_typed_then_saved_with_one_click_is_saved(tmp_path: Path, browser: Browser) -> None:
    config_path = tmp_path / "gateway.yaml"
    with camera_editor(browser, config_path, CONFIG, CAMERA) as page:
        expect(page.get_by_role("button", name="Zone a", exact=True)).to_be_visible(timeout=UI_WAIT_MS)
        # Given the zone renamed to a name that wraps in the shape list, the name field still focused,
        page.get_by_role("button", name="Zone a", exact=True).click()
        page.get_by_label("Name of the selected shape").fill(LONG_NAME)
        # when Save is clicked once,
        page.get_by_role("button", name="Save").click()
        # then the zone is saved under that name.
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
    assert [zone.name for zone in load_config(config_path).cameras[0].zones] == [LONG_NAME]


def test_a_refused_save_says_so_until_reverted(tmp_path: Path, browser: Browser) -> None:
    config = CONFIG + "    model: person-detector\n    rules:\n      - {name: watch, zones: [a]}\n"
    with camera_editor(browser, tmp_path / "gateway.yaml", config, CAMERA) as page:
        expect(page.get_by_role("button", name="Zone a", exact=True)).to_be_visible(timeout=UI_WAIT_MS)
        # Given a rename the gateway refuses, as a rule names the zone,
        page.get_by_role("button", name="Zone a", exact=True).click()
        page.get_by_label("Name of the selected shape").fill("renamed")
        page.get_by_role("button", name="Save").click()
        refused = page.get_by_text(re.compile(r"^Not saved: .*unknown zones"))
        expect(refused).to_be_visible(timeout=UI_WAIT_MS)
        # when the edit is reverted, then the zone is back and the refusal no longer shown.
        page.get_by_role("button", name="Revert").click()
        expect(page.get_by_role("button", name="Zone a", exact=True)).to_be_visible(timeout=UI_WAIT_MS)
        expect(refused).to_have_count(0)
