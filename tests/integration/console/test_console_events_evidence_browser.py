"""Evidence thumbnails that do not load at first, in the real browser against the real app on a real
outbox: an image pruned after its delivery says why it is missing, and one whose first load failed
(the gateway restarting, the network) is tried again and shown. An <img> says only that it failed,
and every failure was shown as "no evidence image" for good. The camera directory is the
hand-written fake of the console tests; the images are JPEGs made by OpenCV."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, Route, expect
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, HttpConfig
from gateway.delivery.outbox import Outbox
from gateway.domain import CameraState, Evidence
from tests.integration.console.test_console_hostile_browser import UI_WAIT_MS
from tests.support.console_app import OneCamera
from tests.unit.api.fakes import FakeBackend
from tests.unit.api.harness import ServedApi
from tests.unit.delivery.test_outbox import Clock, event, open_outbox


def jpeg() -> bytes:
    encoded, data = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    """Two start alerts with their images: seq 1's pruned after its delivery, seq 2's kept."""
    image = jpeg()
    evidence = Evidence(hashlib.sha256(image).hexdigest(), len(image), "image/jpeg", 160, 90)
    clock = Clock()
    writing = open_outbox(tmp_path / "outbox", clock)
    writing.append_many(
        [dataclasses.replace(event(number), evidence=evidence) for number in (0, 1)], [image, image]
    )
    writing.mark_delivered([1], [1])
    payloads = sum(len(row.payload) for row in writing.replay(1, 2))
    writing.close()
    opened = open_outbox(tmp_path / "outbox", clock, max_bytes=payloads + len(image) + 10)
    opened.prune()
    yield opened
    opened.close()


@contextmanager
def events_page(browser: Browser, outbox: Outbox, failing: str | None = None) -> Iterator[Page]:
    """The events page over ``outbox``, once its two cards show; the first load of ``failing`` (a
    path) fails as when the gateway is unreachable."""
    backend = FakeBackend()
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=OneCamera("gate", CameraState.STREAMING, jpeg()),
        events=outbox,
        registry=CollectorRegistry(),
    )
    with closing(backend), closing(ServedApi(app)) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        failed: list[str] = []

        def fail_once(route: Route) -> None:
            if failed:
                route.continue_()
            else:
                failed.append(route.request.url)
                route.abort("connectionrefused")

        if failing is not None:
            page.route(f"**{failing}", fail_once)
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(page.locator("li.event")).to_have_count(2, timeout=UI_WAIT_MS)
        yield page
        assert failing is None or failed, f"the first load of {failing} did not fail"


def test_an_image_pruned_after_its_delivery_says_why_it_is_missing(browser: Browser, outbox: Outbox) -> None:
    with events_page(browser, outbox) as page:
        thumbnail = page.locator("li.event").filter(has_text="start #1").locator(".thumb")
        expect(thumbnail).to_contain_text(
            "No evidence image: the evidence of alert 1 was pruned", timeout=UI_WAIT_MS
        )
        expect(thumbnail.locator("img")).to_be_hidden()


def test_an_image_whose_first_load_failed_is_tried_again_and_shown(browser: Browser, outbox: Outbox) -> None:
    with events_page(browser, outbox, failing="/v1/events/2/evidence.jpg") as page:
        thumbnail = page.locator("li.event").filter(has_text="start #2").locator(".thumb")
        expect(thumbnail.locator("img")).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        expect(thumbnail.locator("img")).to_be_visible()
        expect(thumbnail.locator(".placeholder")).to_be_hidden()
