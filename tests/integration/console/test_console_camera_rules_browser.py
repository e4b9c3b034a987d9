"""A camera's rules on its console page, in the real browser against the real app and config file:
each said in words (what it follows, where, for how long) with a link to its alerts on the events
page. What the gateway looks for on a camera could be read in the config file alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from playwright.sync_api import Browser, expect

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, alerts, console_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT

CAMERA = "gate"
CONFIG = f"""\
cameras:
  - id: {CAMERA}
    url: rtsp://10.0.0.5/stream1
    model: person-detector
    zones:
      - {{name: yard, polygon: [[0, 0.5], [1, 0.5], [1, 1]]}}
      - {{name: poster, polygon: [[0, 0.5], [0.3, 0.5], [0.3, 1]]}}
    lines: [{{name: door, points: [[0.5, 0], [0.5, 1]], in_direction: [1, 0]}}]
    rules:
      - {{name: intrusion, labels: [person], zones: [yard], exclude_zones: [poster]}}
      - {{name: entering, type: line_crossing, labels: [person], line: door, direction: in, min_score: 0.4}}
      - {{name: loitering, type: loiter, labels: [person], zones: [yard], min_s: 20}}
      - {{name: crowd, type: count, labels: [person, child], min_count: 4, min_s: 2}}
      - {{name: left-bag, type: stationary, labels: [backpack], min_s: 60}}
      - {{name: anything, min_score: 0.7}}
"""


def test_each_rule_is_said_in_words_and_links_to_its_alerts(tmp_path: Path, browser: Browser) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    intrusions = alerts(CAMERA, "intrusion", "person", 1)
    entering = alerts(CAMERA, "entering", "person", 2)
    entries = [dataclasses.replace(alert, seq=alert.seq + len(intrusions)) for alert in entering]
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config, intrusions + entries) as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        rules = page.locator("ul.rule-list > li")
        expect(rules).to_have_text(
            [
                "intrusion (presence): person in yard except poster, score from 0.5. Alerts of intrusion",
                "entering (line crossing): person crossing line door going in, score from 0.4. "
                "Alerts of entering",
                "loitering (loiter): person staying in yard for 20 s, score from 0.5. Alerts of loitering",
                "crowd (count): 4 or more of person, child at once anywhere for 2 s, score from 0.5. "
                "Alerts of crowd",
                "left-bag (stationary): backpack standing still anywhere for 60 s, score from 0.5. "
                "Alerts of left-bag",
                "anything (presence): any object anywhere, score from 0.7. Alerts of anything",
            ],
            timeout=UI_WAIT_MS,
        )
        # The link shows that rule's alerts alone, the filters chosen as the events page's own are.
        page.get_by_role("link", name="Alerts of entering").click()
        expect(page.locator("li.event")).to_have_count(2, timeout=UI_WAIT_MS)
        expect(page.locator("li.event h2")).to_have_text(["entering: person"] * 2)
        expect(page.locator("#filter-camera")).to_have_value(CAMERA)
        expect(page.locator("#filter-rule")).to_have_value("entering")


def test_a_camera_without_rules_says_it_raises_no_alerts(tmp_path: Path, browser: Browser) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n")
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config) as served:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"http://127.0.0.1:{served.port}/#/camera/{CAMERA}")
        expect(page.get_by_text("No rules: this camera raises no alerts of its own.")).to_be_visible(
            timeout=UI_WAIT_MS
        )
