"""A running ``serve`` of the console's end-to-end test, as the test talks to it: its API with the
bearer token, the rule ``face-in-yard`` of its ``door`` camera, and screenshots."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.support.browser import keep_screenshot
from tests.support.serve import Process

ALERT_WAIT_S = 60.0  # the face shows 10 s into each 20 s loop of the clip


@dataclass
class Gateway:
    process: Process
    base: str
    token: str
    config: Path
    shots: Path

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def face_events(self) -> list[dict[str, Any]]:
        return [event for event in self.api("/v1/events")["events"] if event["rule"] == "face-in-yard"]

    def open_face_events(self) -> set[str]:
        events = self.face_events()
        ended = {event["event_id"] for event in events if event["kind"] == "end"}
        return {event["event_id"] for event in events if event["kind"] == "start"} - ended

    def geometry(self, zones: list[dict[str, Any]], lines: list[dict[str, Any]]) -> None:
        """The door camera's zones and lines as given, saved through the API unless already so."""
        current = self.api("/v1/cameras/door/geometry")
        if (current["zones"], current["lines"]) != (zones, lines):
            body = {"zones": zones, "lines": lines, "version": current["version"]}
            self.api("/v1/cameras/door/geometry", "PUT", body)

    def wait_for_a_face_in_the_yard(self, after_seq: int = 0) -> list[dict[str, Any]]:
        """The rule's start alerts of seq past ``after_seq``, once there is one."""
        deadline = time.monotonic() + ALERT_WAIT_S
        while True:
            fired = [e for e in self.face_events() if e["kind"] == "start" and e["seq"] > after_seq]
            if fired:
                return fired
            assert time.monotonic() < deadline, f"no face-in-yard alert in {ALERT_WAIT_S} s"
            time.sleep(0.5)

    def shot(self, page: Page, name: str, **options: Any) -> bytes:
        path = self.shots / f"{name}.png"
        image = page.screenshot(path=str(path), **options)
        keep_screenshot(path)
        return image
