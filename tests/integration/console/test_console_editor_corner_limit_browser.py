"""The geometry editor in the real browser against the real app stops adding corners to a zone at the
most the gateway takes, saying so while the zone is drawn, and the zone it closes is saved.

It added any number: a zone clicked 105 times was refused by Save ("zones[1].polygon: takes at most
100 entries, got 105", a place in a list the editor does not show) and the drawing was lost. The
limit is the one the gateway's answer gives (``max_polygon_points``), the config's own.
"""

from __future__ import annotations

import math
from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.config import load_config
from gateway.config.zones import MAX_ZONE_VERTICES
from tests.support.console_pages import UI_WAIT_MS, camera_config, camera_editor

CAMERA = "gate"
CLICKS = MAX_ZONE_VERTICES + 5


def test_a_zone_stops_at_the_most_corners_the_gateway_takes_and_is_saved(
    tmp_path: Path, browser: Browser
) -> None:
    config_path = tmp_path / "gateway.yaml"
    with camera_editor(browser, config_path, camera_config(CAMERA, {}), CAMERA) as page:
        stage = page.get_by_role("application", name="Geometry editor")
        box = stage.bounding_box()
        assert box is not None
        page.get_by_role("button", name="Draw zone").click()
        # Given a zone clicked around a circle more times than a zone may have corners (the first
        # corners an open arc of it, so any of them close into an outline that does not cross itself),
        for index in range(CLICKS):
            angle = 2 * math.pi * index / CLICKS
            page.mouse.click(
                box["x"] + box["width"] * (0.5 + 0.4 * math.cos(angle)),
                box["y"] + box["height"] * (0.5 + 0.4 * math.sin(angle)),
            )
        # then the editor says it has as many as one may have,
        expect(page.get_by_role("status").filter(has_text="the most one may have")).to_have_text(
            f"This zone has {MAX_ZONE_VERTICES} corners, the most one may have: double-click, Enter or "
            "Finish zone to close it, or Backspace to take the last one back."
        )
        # and the zone it closes is saved with that many.
        page.get_by_role("button", name="Finish zone").click()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
    (zone,) = load_config(config_path).cameras[0].zones
    assert len(zone.polygon) == MAX_ZONE_VERTICES
