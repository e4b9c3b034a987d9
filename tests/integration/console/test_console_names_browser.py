"""What the console's page shell and tables say, and to whom, in the real browser against the real
app (a hand-written camera directory and event log, no pipeline):

- the health badge of an app with no ``/v1/status`` (a gateway without the camera pipeline) is not
  shown: it was an empty red pill, "unhealthy" in colour alone;
- the links to an event's raw signed alerts are named for what they open: they were "#5", a name
  that says nothing in a screen reader's list of links;
- the models table has a heading over each column: the share column had none, so the headings from
  Platform on each sat over the column before their own; on a phone, where the table is a list with
  no heading row, each cell names its column (the values stood there unnamed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Response, expect

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, alerts, console_app

CAMERA = "gate"
CONFIG = f"cameras:\n  - id: {CAMERA}\n    url: rtsp://10.0.0.5/stream1\n"
UI_WAIT_MS = 15_000


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    return tmp_path / "gateway.yaml"


def status_answered(response: Response) -> bool:
    return response.url.endswith("/v1/status")


def test_an_app_without_a_status_shows_no_health_badge(config_path: Path, browser: Browser) -> None:
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config_path) as served:
        page = browser.new_page()
        # Given an app that answers 404 for its status, once the page has read that answer (the
        # refresh after it has asked again),
        with page.expect_response(status_answered, timeout=UI_WAIT_MS) as first:
            page.goto(f"http://127.0.0.1:{served.port}/#/cameras")
        assert first.value.status == 404
        with page.expect_response(status_answered, timeout=UI_WAIT_MS):
            pass
        # no badge is shown, red or otherwise.
        expect(page.locator("#health")).to_be_hidden()
        expect(page.locator("#health")).to_have_class("pill")
        expect(page.locator("#health")).to_have_text("")


def test_the_links_to_an_events_signed_alerts_say_what_they_open(config_path: Path, browser: Browser) -> None:
    with console_app(
        OneCamera(CAMERA, CameraState.STREAMING, None), config_path, alerts(CAMERA, "yard", "person", 2)
    ) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(page.locator("li.event")).to_have_count(2, timeout=UI_WAIT_MS)
        newest = page.locator("li.event").first
        start = newest.get_by_role("link", name="Signed JSON of start alert #3 (opens in a new tab)")
        end = newest.get_by_role("link", name="Signed JSON of end alert #4 (opens in a new tab)")
        expect(start).to_have_attribute("href", "/v1/events/3")
        expect(start).to_have_text("start alert #3")
        expect(end).to_have_attribute("href", "/v1/events/4")
        expect(page.get_by_role("link", name=re.compile(r"^#\d+$"))).to_have_count(0)


def test_every_column_of_the_models_table_has_its_heading(config_path: Path, browser: Browser) -> None:
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config_path) as served:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/#/models")
        rows = page.locator("tbody tr")
        expect(rows.first).to_be_visible(timeout=UI_WAIT_MS)
        headings = page.locator("thead th").all_inner_texts()
        assert len(headings) == rows.first.locator("td").count(), headings
        provider = headings.index("Provider")
        platform = headings.index("Platform")
        cells = rows.first.locator("td").all_inner_texts()
        assert cells[platform] == page.evaluate(
            "name => fetch(`/v2/models/${name}`).then(r => r.json()).then(m => m.platform)", cells[0]
        )
        assert cells[provider] != cells[platform]


def test_on_a_phone_each_cell_of_the_models_table_names_its_column(
    config_path: Path, browser: Browser
) -> None:
    with console_app(OneCamera(CAMERA, CameraState.STREAMING, None), config_path) as served:
        page = browser.new_page(viewport={"width": 390, "height": 800})
        page.goto(f"http://127.0.0.1:{served.port}/#/models")
        row = page.locator("tbody tr").first
        expect(row).to_be_visible(timeout=UI_WAIT_MS)
        expect(page.locator("thead")).to_be_hidden()
        headings = page.locator("thead th").evaluate_all("cells => cells.map((cell) => cell.textContent)")
        named = row.locator("td").evaluate_all(
            "cells => cells.map((cell) => getComputedStyle(cell, '::before').content)"
        )
        assert named == [f'"{heading}: "' for heading in headings], named
        expect(row.get_by_role("cell", name=re.compile(r"^Platform: "))).to_have_count(1)
