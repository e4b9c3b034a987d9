"""The console in a real browser (Debian's chromium, driven by Playwright) against a real ``serve``
decoding the demo clip with the face detector, behind a bearer token.

The camera starts with a ``yard`` zone in a corner no face reaches, so its rule stays quiet; the
test redraws the yard over the whole picture and adds a counting line in the editor, saves, and
then finds the file on disk holding them with its comments intact, and the rule's alert following.
Each test sets up the geometry it needs through the API, so they pass in any order and alone.
Screenshots of every page are taken on the way (see tests/support/browser.py for keeping them).
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, FloatRect, Page, expect

from gateway.config import load_config
from tests.integration.console.served_gateway import ALERT_WAIT_S, Gateway
from tests.support.picture_box import assert_asked_for_its_box, longest_side_in
from tests.support.serve import CLIP, Process, face_repository

UI_WAIT_MS = 15_000
CONFIG = """\
# Console end-to-end test: the demo clip as the door camera.
device_id: console-e2e
state_dir: {state}
http:
  port: 0
  tokens_file: {tokens}   # one token per line
models: {{repository: {repository}}}
cameras:
  - id: door   # a face shows 10 s into every 20 s
    url: {clip}
    detect_fps: 5
    model: face-detector
    motion: {{enabled: false}}
    zones:
      # a corner no face reaches: the rule stays quiet until the yard is redrawn
      - {{name: yard, polygon: [[0.0, 0.0], [0.04, 0.0], [0.04, 0.04]]}}
    rules:
      - name: face-in-yard   # fires once the yard covers the face
        labels: [FACE_FEMALE, FACE_MALE]
        zones: [yard]
        min_score: 0.4
        min_frames: 1
        cooldown_s: 0
        end_after_s: 0.5
"""
COMMENTS = [line.partition("#")[2].strip() for line in CONFIG.splitlines() if "#" in line]
CORNER_YARD = {"name": "yard", "polygon": [[0.0, 0.0], [0.04, 0.0], [0.04, 0.04]]}
# What the drawing test leaves: the yard over the whole picture, the aisle line down the middle.
DRAWN_YARD = {"name": "yard", "polygon": [[0.02, 0.02], [0.98, 0.02], [0.98, 0.98], [0.02, 0.98]]}
AISLE = {"name": "aisle", "points": [[0.5, 0.1], [0.5, 0.9]], "in_direction": [1.0, 0.0]}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory = tmp_path_factory.mktemp("console")
    token = secrets.token_urlsafe(24)
    tokens = directory / "tokens"
    tokens.write_text(f"# console test\n{token}\n")
    config = directory / "gateway.yaml"
    config.write_text(
        CONFIG.format(
            state=directory / "state", tokens=tokens, repository=face_repository(directory), clip=CLIP
        )
    )
    shots = directory / "screenshots"
    shots.mkdir()
    process = Process(["serve", "--config", str(config)], directory / "serve.log")
    try:
        port = process.api_port()
        process.wait_for_log("camera connecting -> streaming")
        yield Gateway(process, f"http://127.0.0.1:{port}", token, config, shots)
    finally:
        process.kill()


@pytest.fixture(scope="module")
def session(browser: Browser, gateway: Gateway) -> Iterator[BrowserContext]:
    """A browser logged in through the console's login form."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(gateway.base + "/")
    expect(page.get_by_label("API token")).to_be_visible(timeout=UI_WAIT_MS)
    gateway.shot(page, "login")
    page.get_by_label("API token").fill(gateway.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Cameras")).to_be_visible(timeout=UI_WAIT_MS)
    page.close()
    yield context
    context.close()


def test_a_wrong_token_is_refused(browser: Browser, gateway: Gateway) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(gateway.base + "/")
        page.get_by_label("API token").fill("not-" + gateway.token)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#login-error")).to_have_text("Wrong token.", timeout=UI_WAIT_MS)
        assert context.cookies() == []
        status = page.evaluate("async () => (await fetch('/v1/cameras')).status")
        assert status == 401
    finally:
        context.close()


def test_the_cameras_page_shows_the_camera_live(session: BrowserContext, gateway: Gateway) -> None:
    page = session.new_page()
    with page.expect_request(lambda request: "/stream.mjpeg" in request.url, timeout=UI_WAIT_MS) as asked:
        page.goto(gateway.base + "/#/cameras")
    tile = page.locator("[data-camera=door]")
    expect(tile.get_by_text("streaming")).to_be_visible(timeout=UI_WAIT_MS)
    picture = tile.locator("img.live")
    page.wait_for_function(
        "image => image.naturalWidth > 0", arg=picture.element_handle(), timeout=UI_WAIT_MS
    )
    # The view is asked for at the size the tile shows it.
    assert asked.value.url.startswith(f"{gateway.base}/v1/cameras/door/stream.mjpeg?longest_side=")
    assert_asked_for_its_box(longest_side_in(asked.value.url), picture, scale=1)

    first = picture.screenshot()
    deadline = time.monotonic() + UI_WAIT_MS / 1000
    while picture.screenshot() == first:
        assert time.monotonic() < deadline, f"the live view did not change in {UI_WAIT_MS} ms"
        time.sleep(0.25)
    expect(tile.get_by_text(re.compile(r"^\d+\.\d / \d+\.\d$"))).to_be_visible()
    gateway.shot(page, "cameras")
    page.close()


def test_a_live_tile_made_larger_asks_for_its_view_at_the_new_size(
    session: BrowserContext, gateway: Gateway
) -> None:
    page = session.new_page()
    page.set_viewport_size({"width": 500, "height": 800})
    streamed = lambda request: "/stream.mjpeg" in request.url  # noqa: E731
    with page.expect_request(streamed, timeout=UI_WAIT_MS) as first:
        page.goto(gateway.base + "/#/cameras")
    picture = page.locator("[data-camera=door] img.live")
    page.wait_for_function(
        "image => image.naturalWidth > 0", arg=picture.element_handle(), timeout=UI_WAIT_MS
    )
    # When the window is made wider, and the one camera's tile with it
    with page.expect_request(streamed, timeout=UI_WAIT_MS) as second:
        page.set_viewport_size({"width": 1280, "height": 800})
    # then the view is asked for again, at the tile's new size.
    assert longest_side_in(second.value.url) > longest_side_in(first.value.url)
    assert_asked_for_its_box(longest_side_in(second.value.url), picture, scale=1)
    page.close()


def test_one_cameras_tile_takes_the_pages_width_and_fits_the_window(
    session: BrowserContext, gateway: Gateway
) -> None:
    page = session.new_page()
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(gateway.base + "/#/cameras")
    tile = page.locator("[data-camera=door]")
    expect(tile.get_by_text("streaming")).to_be_visible(timeout=UI_WAIT_MS)
    grid = page.locator(".camera-grid").bounding_box()
    box = tile.bounding_box()
    assert grid is not None
    assert box is not None
    assert box["width"] == pytest.approx(grid["width"], abs=1), (box, grid)
    # and the tile, its picture and its numbers, within the window
    assert box["y"] + box["height"] <= 1080, box
    page.close()


def click_at(page: Page, box: FloatRect, x: float, y: float) -> None:
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def test_draw_a_zone_and_a_line_save_and_the_rule_fires(session: BrowserContext, gateway: Gateway) -> None:
    # Given the yard in its corner, and no event of the rule open (one a test before left ends there)
    gateway.geometry([CORNER_YARD], [])
    deadline = time.monotonic() + ALERT_WAIT_S
    while gateway.open_face_events():
        assert time.monotonic() < deadline, f"face-in-yard events stayed open: {gateway.open_face_events()}"
        time.sleep(0.5)
    first_seq = max((event["seq"] for event in gateway.api("/v1/events")["events"]), default=0)
    page = session.new_page()
    page.goto(gateway.base + "/#/camera/door")
    editor = page.get_by_role("application", name="Geometry editor")
    expect(page.get_by_role("button", name="Zone yard")).to_be_visible(timeout=UI_WAIT_MS)

    # Delete the corner yard, draw one over the whole picture and name it yard.
    page.get_by_role("button", name="Zone yard").click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Draw zone").click()
    box = editor.bounding_box()
    assert box is not None
    for x, y in ((0.02, 0.02), (0.98, 0.02), (0.98, 0.98), (0.02, 0.98)):
        click_at(page, box, x, y)
    page.get_by_role("button", name="Finish zone").click()
    page.get_by_label("Name of the selected shape").fill("yard")
    # A counting line down the middle: "in" starts pointing left; flipped, it points right.
    page.get_by_role("button", name="Draw line").click()
    click_at(page, box, 0.5, 0.1)
    click_at(page, box, 0.5, 0.9)
    page.get_by_role("button", name="Flip in arrow").click()
    page.get_by_label("Name of the selected shape").fill("aisle")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)
    page.wait_for_timeout(1000)  # the live view's next frames draw the saved geometry too
    gateway.shot(page, "camera")

    text = gateway.config.read_text()
    for comment in COMMENTS:
        assert comment in text, f"comment lost: {comment}"
    camera = load_config(gateway.config).cameras[0]
    assert [zone.name for zone in camera.zones] == ["yard"]
    xs = [x for x, _ in camera.zones[0].polygon]
    ys = [y for _, y in camera.zones[0].polygon]
    assert min(max(xs), max(ys)) > 0.95, camera.zones
    assert max(min(xs), min(ys)) < 0.05, camera.zones
    assert [line.name for line in camera.lines] == ["aisle"]
    (ax, _), (bx, _) = camera.lines[0].points
    assert max(abs(ax - 0.5), abs(bx - 0.5)) < 0.02, camera.lines
    assert camera.lines[0].in_direction[0] > 0, "the flipped in arrow points right"
    gateway.process.wait_for_log("console saved 1 zone, 1 line and the motion mask as it was")

    fired = gateway.wait_for_a_face_in_the_yard(after_seq=first_seq)
    assert fired[-1]["zone"] == "yard"
    page.close()


def test_a_line_turned_by_its_end_keeps_its_in_arrow_across_it(
    session: BrowserContext, gateway: Gateway
) -> None:
    lines_before = [line.name for line in load_config(gateway.config).cameras[0].lines]
    page = session.new_page()
    page.goto(gateway.base + "/#/camera/door")
    editor = page.get_by_role("application", name="Geometry editor")
    expect(page.get_by_role("button", name="Draw line")).to_be_enabled(timeout=UI_WAIT_MS)
    box = editor.bounding_box()
    assert box is not None
    # Upright, "in" pointing left; then its lower end dragged round until the line lies level.
    page.get_by_role("button", name="Draw line").click()
    click_at(page, box, 0.2, 0.3)
    click_at(page, box, 0.2, 0.7)
    page.get_by_label("Name of the selected shape").fill("turned")
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.7 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.3 * box["height"], steps=12)
    page.mouse.up()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved to the config file and applied.")).to_be_visible(timeout=UI_WAIT_MS)

    line = next(line for line in load_config(gateway.config).cameras[0].lines if line.name == "turned")
    (ax, ay), (bx, by) = line.points
    assert abs(ay - by) < 0.02, line
    assert bx - ax > 0.3, line
    # Turned with the line, a quarter turn from left: down, across the level line.
    dx, dy = line.in_direction
    assert abs(dx) < 0.02, line
    assert dy > 0.98, line
    # Leave the geometry as the tests after this one expect it.
    page.get_by_role("button", name="Line turned").click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("button", name="Line turned")).to_have_count(0)
    deadline = time.monotonic() + UI_WAIT_MS / 1000
    while [line.name for line in load_config(gateway.config).cameras[0].lines] != lines_before:
        assert time.monotonic() < deadline, "the line's removal was not saved"
        time.sleep(0.1)
    page.close()


def test_the_events_page_shows_the_event(session: BrowserContext, gateway: Gateway) -> None:
    gateway.geometry([DRAWN_YARD], [AISLE])
    gateway.wait_for_a_face_in_the_yard()
    page = session.new_page()
    page.goto(gateway.base + "/#/events")
    card = page.locator("li.event").filter(has_text="face-in-yard").first
    expect(card).to_be_visible(timeout=UI_WAIT_MS)
    thumbnail = card.locator(".thumb")
    expect(thumbnail.locator("img")).to_be_visible(timeout=UI_WAIT_MS)
    expect(
        card.get_by_role("link", name=re.compile(r"^Signed JSON of start alert #\d+ \(opens in a new tab\)$"))
    ).to_have_attribute("href", re.compile(r"^/v1/events/\d+$"))
    expect(card.get_by_text("committed (outbox only)")).to_be_visible()
    page.get_by_label("Rule").select_option("face-in-yard")
    expect(page.locator("li.event").first).to_contain_text("face-in-yard")
    page.get_by_label("Label").select_option(index=0)
    gateway.shot(page, "events")
    page.close()


def test_the_event_shows_its_evidence_thumbnail_with_the_box(
    session: BrowserContext, gateway: Gateway
) -> None:
    gateway.geometry([DRAWN_YARD], [AISLE])
    starts = [e for e in gateway.wait_for_a_face_in_the_yard() if e["box"]]
    assert starts, "no start alert with a box to show"
    page = session.new_page()
    page.goto(gateway.base + "/#/events")
    card = page.locator(f"li.event[data-event='{starts[0]['event_id']}']")
    image = card.locator(".thumb img")
    expect(image).to_be_visible(timeout=UI_WAIT_MS)
    page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=image.element_handle())
    expect(card.locator(".thumb svg rect")).to_have_count(1)
    gateway.shot(page, "events-evidence")
    page.close()


def test_a_request_without_the_csrf_token_is_refused(session: BrowserContext, gateway: Gateway) -> None:
    page = session.new_page()
    page.goto(gateway.base + "/#/system")
    before = gateway.config.read_text()
    put = """async (csrf) => {
        const headers = {"Content-Type": "application/json"};
        if (csrf) headers["X-CSRF-Token"] = csrf;
        const response = await fetch("/v1/cameras/door/geometry", {
            method: "PUT", headers, body: JSON.stringify({zones: [], lines: []})});
        return [response.status, (await response.json()).error];
    }"""
    status, error = page.evaluate(put, None)
    assert status == 403
    assert "X-CSRF-Token" in error
    csrf = page.evaluate("async () => (await (await fetch('/v1/session')).json()).csrf_token")
    status, error = page.evaluate(put, csrf)
    assert status == 400, "with the token the request passes the check and meets validation"
    assert "unknown zones" in error
    assert gateway.config.read_text() == before
    page.close()


def test_models_and_system_pages_show_live_numbers(session: BrowserContext, gateway: Gateway) -> None:
    page = session.new_page()
    page.goto(gateway.base + "/#/models")
    expect(page.locator("[data-model='face-detector:1']")).to_contain_text("ready", timeout=UI_WAIT_MS)
    gateway.shot(page, "models")
    page.goto(gateway.base + "/#/system")
    expect(page.get_by_text("console-e2e")).to_be_visible(timeout=UI_WAIT_MS)
    uptime = page.locator("dt:text-is('Uptime') + dd")
    first = uptime.inner_text()
    expect(uptime).not_to_have_text(first, timeout=UI_WAIT_MS)  # updates without a reload
    # With no broker, nothing is said to wait for an acknowledgement that never comes
    expect(page.locator("dt:text-is('Outbox holds') + dd")).to_have_text(re.compile(r"^\d+ alerts?$"))
    gateway.shot(page, "system")
    page.close()


def test_keyboard_and_phone_width(session: BrowserContext, gateway: Gateway) -> None:
    gateway.geometry([DRAWN_YARD], [AISLE])
    page = session.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(gateway.base + "/#/cameras")
    expect(page.locator("[data-camera=door]")).to_be_visible(timeout=UI_WAIT_MS)
    for _ in range(3):  # skip link, Cameras, Events
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Events"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Events")).to_be_visible(timeout=UI_WAIT_MS)
    for route in ("#/cameras", "#/camera/door", "#/events", "#/system"):
        page.goto(gateway.base + "/" + route)
        page.wait_for_timeout(500)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{route} scrolls sideways by {overflow} px at 390 px wide"
    page.goto(gateway.base + "/#/camera/door")
    expect(page.get_by_role("button", name="Zone yard")).to_be_visible(timeout=UI_WAIT_MS)
    page.wait_for_function("() => document.querySelector('.stage img').naturalWidth > 0")
    gateway.shot(page, "phone-camera", full_page=True)

    # The editor by keyboard: pick the line in the list, focus the picture, move it with an arrow key.
    page.get_by_role("button", name="Line aisle").press("Enter")
    line = page.locator("svg line.shape")
    before = float(line.get_attribute("x1") or "nan")
    page.locator(".stage").focus()
    page.keyboard.press("ArrowLeft")
    assert float(line.get_attribute("x1") or "nan") == pytest.approx(before - 0.01)
    expect(page.get_by_role("button", name="Save")).to_be_enabled()
    page.keyboard.press("Delete")
    expect(page.get_by_role("button", name="Line aisle")).to_have_count(0)
    page.get_by_role("button", name="Revert").click()  # nothing of this is saved
    expect(page.get_by_role("button", name="Line aisle")).to_be_visible(timeout=UI_WAIT_MS)
    page.close()


def test_the_unauthenticated_api_stays_closed(gateway: Gateway) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(gateway.base + "/v1/cameras/door/stream.mjpeg", timeout=10)
    refused.value.close()
    assert refused.value.code == 401
