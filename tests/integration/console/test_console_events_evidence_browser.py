"""Evidence images on the events page, in the real browser against the real app on a real outbox: an
image pruned after its delivery says why it is missing, and one whose first load failed (the gateway
restarting, the network) is tried again and shown (an <img> says only that it failed, and every
failure was shown as "no evidence image" for good); a thumbnail, 200 pixels wide, was the only view
of an image: it opens the image at its own size (a small one larger), the alert's box over it. The
camera directory is the hand-written fake of the console tests; the images are JPEGs made by
OpenCV."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
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
from gateway.domain import AlertEvent, AlertKind, CameraState, EndReason, Evidence
from tests.integration.console.test_console_hostile_browser import UI_WAIT_MS
from tests.support.console_app import OneCamera
from tests.support.evidence_dialog import check_shown_with_box
from tests.unit.api.fakes import FakeBackend
from tests.unit.api.harness import ServedApi
from tests.unit.delivery.test_outbox import Clock, event, open_outbox

ONLY_ALERT_1 = re.compile(r"start alert #1$")
"""The dialog's caption of alert #1 (a plain "#1" is in "#104" and "#1002" too)."""


def jpeg(width: int = 160, height: int = 90) -> bytes:
    encoded, data = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert encoded
    return data.tobytes()


def evidence_of(image: bytes, width: int, height: int) -> Evidence:
    return Evidence(hashlib.sha256(image).hexdigest(), len(image), "image/jpeg", width, height)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    """Two start alerts with their images: seq 1's pruned after its delivery, seq 2's kept."""
    image = jpeg()
    evidence = evidence_of(image, 160, 90)
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
def events_page(
    browser: Browser,
    outbox: Outbox,
    failing: str | Callable[[str], bool] | None = None,
    cards: int = 2,
    requested: list[str] | None = None,
) -> Iterator[Page]:
    """The events page over ``outbox``, once its ``cards`` cards show; the first load of ``failing``
    (a path, or a test of the whole URL) fails as when the gateway is unreachable; the URL of every
    request the page makes is added to ``requested``."""
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
            page.route(failing if callable(failing) else f"**{failing}", fail_once)
        if requested is not None:
            page.on("request", lambda request: requested.append(request.url))
        page.goto(f"http://127.0.0.1:{served.port}/#/events")
        expect(page.locator("li.event")).to_have_count(cards, timeout=UI_WAIT_MS)
        yield page
        assert failing is None or failed, f"the first load of {failing} did not fail"


def test_an_image_pruned_after_its_delivery_says_why_it_is_missing(browser: Browser, outbox: Outbox) -> None:
    with events_page(browser, outbox) as page:
        thumbnail = page.locator("li.event").filter(has_text="start #1").locator(".thumb")
        expect(thumbnail).to_contain_text(
            "No evidence image: the evidence of alert 1 was pruned", timeout=UI_WAIT_MS
        )
        expect(thumbnail.locator("img")).to_be_hidden()
        expect(thumbnail.get_by_role("button")).to_be_hidden()


def test_an_image_whose_first_load_failed_is_tried_again_and_shown(browser: Browser, outbox: Outbox) -> None:
    with events_page(browser, outbox, failing="/v1/events/2/evidence.jpg") as page:
        thumbnail = page.locator("li.event").filter(has_text="start #2").locator(".thumb")
        expect(thumbnail.locator("img")).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        expect(thumbnail.locator("img")).to_be_visible()
        expect(thumbnail.locator(".placeholder")).to_be_hidden()


@pytest.fixture
def wide_outbox(tmp_path: Path) -> Iterator[Outbox]:
    """Two start alerts, each with its 640 x 360 image."""
    image = jpeg(640, 360)
    evidence = evidence_of(image, 640, 360)
    opened = open_outbox(tmp_path / "outbox", Clock())
    opened.append_many(
        [dataclasses.replace(event(number), evidence=evidence) for number in (0, 1)], [image, image]
    )
    yield opened
    opened.close()


def test_a_thumbnail_shows_its_image_at_its_own_size_with_the_box(
    browser: Browser, wide_outbox: Outbox
) -> None:
    with events_page(browser, wide_outbox) as page:
        card = page.locator("li.event").filter(has_text="start #2")
        larger = card.get_by_role("button", name="Show the evidence of start alert #2 larger")
        expect(card.locator(".thumb img")).to_have_js_property("naturalWidth", 640, timeout=UI_WAIT_MS)

        # When the thumbnail is chosen with the keyboard
        larger.focus()
        page.keyboard.press("Enter")

        # Then the image is shown at its own size, the alert's box (0.1, 0.2)-(0.3, 0.4) over it,
        dialog = page.get_by_role("dialog", name="intrusion: person")
        picture = dialog.get_by_role("img", name="Evidence of alert 2: person on camera gate")
        expect(picture).to_have_js_property("naturalWidth", 640, timeout=UI_WAIT_MS)
        expect(dialog).to_contain_text("camera gate · score 0.51 · start alert #2")
        check_shown_with_box(dialog, 640, 360, (0.1, 0.2, 0.3, 0.4))
        # with the keyboard on its Close button
        expect(dialog.get_by_role("button", name="Close")).to_be_focused()

        # When Escape is pressed, then the dialog closes and the keyboard is back on the thumbnail
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(larger).to_be_focused()

        # A click beside the image closes it too, one on it does not
        larger.click()
        expect(picture).to_be_visible(timeout=UI_WAIT_MS)
        picture.click()
        expect(dialog).to_be_visible()
        page.mouse.click(5, 5)
        expect(dialog).to_be_hidden()
        expect(larger).to_be_focused()


def test_a_small_image_is_shown_larger_than_its_thumbnail_with_the_box(
    browser: Browser, outbox: Outbox
) -> None:
    with events_page(browser, outbox) as page:
        card = page.locator("li.event").filter(has_text="start #2")
        expect(card.locator(".thumb img")).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        card.get_by_role("button", name="Show the evidence of start alert #2 larger").click()
        # The 160 x 90 image (evidence.max_width set low) was shown at its own size, smaller than its
        # 200 pixels wide thumbnail: it is shown 640 wide, in its own shape, the box over it.
        dialog = page.get_by_role("dialog", name="intrusion: person")
        expect(dialog.get_by_role("img")).to_have_js_property("naturalWidth", 160, timeout=UI_WAIT_MS)
        check_shown_with_box(dialog, 640, 360, (0.1, 0.2, 0.3, 0.4))
        # On a phone, as wide as the window allows (85% of it).
        page.set_viewport_size({"width": 400, "height": 800})
        page.wait_for_function("() => document.querySelector('dialog img').clientWidth < 600")
        check_shown_with_box(dialog, 340, 191, (0.1, 0.2, 0.3, 0.4))


def test_the_keyboard_comes_back_to_a_card_rebuilt_while_its_image_was_shown(
    browser: Browser, wide_outbox: Outbox
) -> None:
    with events_page(browser, wide_outbox) as page:
        larger = page.get_by_role("button", name="Show the evidence of start alert #2 larger")
        larger.focus()
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="intrusion: person")
        expect(dialog).to_be_visible(timeout=UI_WAIT_MS)

        # Given the event's end alert came while its image was shown (its card is rebuilt)
        ending = dataclasses.replace(event(1), kind=AlertKind.END, end_reason=EndReason.CLEARED)
        wide_outbox.append_many([ending], [None])
        expect(page.locator("li.event").filter(has_text="start #2, end #3")).to_have_count(
            1, timeout=UI_WAIT_MS
        )

        # and a new event came, listed first: where the picture stands is read again
        image = jpeg(640, 360)
        wide_outbox.append_many(
            [dataclasses.replace(event(2), evidence=evidence_of(image, 640, 360))], [image]
        )
        expect(dialog.locator(".evidence-steps span")).to_have_text("2 of 3", timeout=UI_WAIT_MS)

        # When the dialog is closed, then the keyboard is on the rebuilt card's thumbnail
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(larger).to_be_focused()


def test_previous_and_next_step_through_the_pictures_on_the_page(
    browser: Browser, wide_outbox: Outbox
) -> None:
    with events_page(browser, wide_outbox) as page:
        # Given the newest event's picture is shown (the page lists #2, then #1)
        page.get_by_role("button", name="Show the evidence of start alert #2 larger").click()
        dialog = page.get_by_role("dialog", name="intrusion: person")
        previous = dialog.get_by_role("button", name="← Previous")
        following = dialog.get_by_role("button", name="Next →")
        expect(dialog).to_contain_text("start alert #2", timeout=UI_WAIT_MS)
        where = dialog.locator(".evidence-steps span")
        expect(where).to_have_text("1 of 2")
        expect(previous).to_be_disabled()

        # When the right arrow key is pressed, then the next card's picture is shown, with its box
        page.keyboard.press("ArrowRight")
        expect(dialog).to_contain_text("start alert #1")
        expect(where).to_have_text("2 of 2")
        picture = dialog.get_by_role("img", name="Evidence of alert 1: person on camera gate")
        expect(picture).to_have_js_property("naturalWidth", 640, timeout=UI_WAIT_MS)
        check_shown_with_box(dialog, 640, 360, (0.1, 0.2, 0.3, 0.4))
        expect(following).to_be_disabled()

        # Previous goes back; the keyboard stays in the dialog, on a button it can press again
        previous.click()
        expect(dialog).to_contain_text("start alert #2")
        expect(following).to_be_enabled()
        following.click()
        expect(dialog).to_contain_text("start alert #1")
        expect(dialog.locator(":focus")).to_have_count(1)

        # When it closes, the keyboard is on the thumbnail of the last picture shown
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(page.get_by_role("button", name="Show the evidence of start alert #1 larger")).to_be_focused()


def outbox_of(tmp_path: Path, events: Sequence[AlertEvent], pictured: Sequence[bool]) -> Outbox:
    """An outbox holding ``events``, each ``pictured`` one with a 160 x 90 image."""
    image = jpeg()
    evidence = evidence_of(image, 160, 90)
    outbox = open_outbox(tmp_path / "outbox", Clock())
    outbox.append_many(
        [
            dataclasses.replace(made, evidence=evidence if has else None)
            for made, has in zip(events, pictured, strict=True)
        ],
        [image if has else None for has in pictured],
    )
    return outbox


def test_next_past_the_last_picture_shows_older_events_and_goes_on_to_their_first_picture(
    tmp_path: Path, browser: Browser
) -> None:
    # Given 203 events, newest first: the 100 the page shows at first (#203 to #104) and the oldest
    # (#1) with a picture, the 102 between (#103 to #2) without one: more than Older shows at once
    outbox = outbox_of(
        tmp_path, [event(number) for number in range(203)], [not 1 <= number <= 102 for number in range(203)]
    )
    with closing(outbox), events_page(browser, outbox, cards=100) as page:
        # Given the oldest picture on the page is shown
        page.get_by_role("button", name="Show the evidence of start alert #104 larger").click()
        dialog = page.get_by_role("dialog", name="intrusion: person")
        following = dialog.get_by_role("button", name="Next →")
        where = dialog.locator(".evidence-steps span")
        expect(dialog).to_contain_text("start alert #104", timeout=UI_WAIT_MS)
        expect(where).to_have_text("100 of 100, older events next")
        expect(following).to_be_enabled()

        # When Next is pressed, then the page shows the older events under the dialog, as Older
        # twice would, and the dialog the first picture among them, past the events without one
        following.click()
        expect(dialog.locator("p.timeline")).to_have_text(ONLY_ALERT_1, timeout=UI_WAIT_MS)
        expect(page.locator("li.event")).to_have_count(203)
        expect(where).to_have_text("101 of 101")
        expect(following).to_be_disabled()
        expect(dialog.locator(":focus")).to_have_count(1)

        # And Previous goes back over the same list
        page.keyboard.press("ArrowLeft")
        expect(dialog).to_contain_text("start alert #104")
        expect(where).to_have_text("100 of 101")


def reads_older_alerts(url: str) -> bool:
    """A read of alerts older than those the page holds (its first reads are of the newest)."""
    return "/v1/events?" in url and "before=" in url


def test_next_past_the_last_picture_reads_older_alerts_from_the_gateway_and_says_when_it_cannot(
    tmp_path: Path, browser: Browser
) -> None:
    # Given 1,002 alerts: the newest (#1002) and the oldest (#1) start person events with a
    # picture, the 1,000 between car events; the page reads the newest 1,000 at first
    person = [number in (0, 1001) for number in range(1002)]
    outbox = outbox_of(
        tmp_path,
        [
            event(number) if is_person else dataclasses.replace(event(number), label="car")
            for number, is_person in enumerate(person)
        ],
        person,
    )
    with closing(outbox), events_page(browser, outbox, failing=reads_older_alerts, cards=100) as page:
        # Given only person events are listed (the newest alone among the alerts read), and its
        # picture is shown; the gateway's first answer to a read of older alerts fails
        page.locator("#filter-label").select_option("person")
        expect(page.locator("li.event")).to_have_count(1, timeout=UI_WAIT_MS)
        page.get_by_role("button", name="Show the evidence of start alert #1002 larger").click()
        dialog = page.get_by_role("dialog", name="intrusion: person")
        following = dialog.get_by_role("button", name="Next →")
        where = dialog.locator(".evidence-steps span")
        expect(dialog).to_contain_text("start alert #1002", timeout=UI_WAIT_MS)
        expect(where).to_have_text("1 of 1, older events next")

        # When Next is pressed, then the failed read is named in the dialog and the picture stays
        following.click()
        expect(where).to_contain_text(
            "Older events not loaded: the gateway did not answer", timeout=UI_WAIT_MS
        )
        expect(dialog).to_contain_text("start alert #1002")

        # When Next is pressed again, then the older alerts are read from the gateway and the
        # oldest person event's picture is shown
        following.click()
        expect(dialog.locator("p.timeline")).to_have_text(ONLY_ALERT_1, timeout=UI_WAIT_MS)
        expect(where).to_have_text("2 of 2")
        expect(page.locator("li.event")).to_have_count(2)


def test_no_step_leads_to_a_picture_that_is_missing(browser: Browser, outbox: Outbox) -> None:
    with events_page(browser, outbox) as page:
        expect(page.locator("li.event").filter(has_text="start #1")).to_contain_text(
            "was pruned", timeout=UI_WAIT_MS
        )
        page.get_by_role("button", name="Show the evidence of start alert #2 larger").click()
        dialog = page.get_by_role("dialog", name="intrusion: person")
        expect(dialog).to_contain_text("start alert #2", timeout=UI_WAIT_MS)
        expect(dialog.get_by_role("button", name="Next →")).to_be_hidden()
        page.keyboard.press("ArrowRight")
        expect(dialog).to_contain_text("start alert #2")


def test_a_picture_that_cannot_be_loaded_larger_says_so(browser: Browser, wide_outbox: Outbox) -> None:
    with events_page(browser, wide_outbox) as page:
        card = page.locator("li.event").filter(has_text="start #2")
        expect(card.locator(".thumb img")).to_have_js_property("naturalWidth", 640, timeout=UI_WAIT_MS)
        # Given the gateway is unreachable once the thumbnail has loaded
        page.route("**/v1/events/2/evidence.jpg", lambda route: route.abort("connectionrefused"))
        card.get_by_role("button", name="Show the evidence of start alert #2 larger").click()
        dialog = page.get_by_role("dialog", name="intrusion: person")
        expect(dialog).to_contain_text("The image could not be loaded", timeout=UI_WAIT_MS)
        expect(dialog.get_by_role("img")).to_have_count(0)
        # the next picture is shown again
        page.keyboard.press("ArrowRight")
        expect(
            dialog.get_by_role("img", name="Evidence of alert 1: person on camera gate")
        ).to_have_js_property("naturalWidth", 640, timeout=UI_WAIT_MS)


def test_events_committed_without_an_image_say_so_and_ask_the_gateway_nothing(
    tmp_path: Path, browser: Browser
) -> None:
    # Given 120 start alerts committed without an image (evidence off): each card asked for its image
    # and then for the gateway's reason, 200 requests at once for the page's 100 cards, past the
    # gateway's per-client burst (50), so the page's own reads could be refused
    outbox = outbox_of(tmp_path, [event(number) for number in range(120)], [False] * 120)
    requested: list[str] = []
    with closing(outbox), events_page(browser, outbox, cards=100, requested=requested) as page:
        # Then each card says so from the alert's own fields, why in its tooltip
        said = page.locator("li.event").first.locator(".thumb .placeholder")
        expect(said).to_have_text("committed without an image")
        expect(said).to_have_attribute("title", re.compile(r"outbox\.evidence\.enabled"))
        expect(page.locator("li.event .thumb .placeholder")).to_have_count(100)
        expect(page.locator("li.event .thumb img")).to_have_count(0)
        # and nothing is asked of the gateway for them, nor for those Older brings
        page.locator("#older").click()
        expect(page.locator("li.event")).to_have_count(120, timeout=UI_WAIT_MS)
        assert [url for url in requested if "evidence.jpg" in url] == []
        assert any("/v1/events?" in url for url in requested), "the page's reads were not seen"
