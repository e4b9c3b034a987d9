"""A signed alert's box drawn over its evidence, in a real browser (Debian's chromium), whatever the
order of its corners or how far beyond the frame they lie.

The alert contract's box is two corners, ``[x1, y1, x2, y2]``, and neither the gateway's nor the
audit's checks ask them in order: a signed alert with x1 > x2 is stored and verified as any other,
and the page drew it as no box at all, with no word. It is the rectangle the corners span, drawn
inside the frame. The device page of the real audit HTTP API over a SQLite store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.domain import AlertKind, Evidence
from gateway.protocol.alerts import ZERO_HASH, build_alert, encode_alert
from tests.support.audit_device import event, jpeg
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import FleetServer, fleet_server, logged_in_page

KEY = bytes(range(32))
DEVICE = "box-corners"
AT = 1_780_000_001.0
WIDTH, HEIGHT = 64, 48  # the test JPEGs' size
BOXES = {
    1: ((0.9, 0.8, 0.1, 0.2), (0.1, 0.2, 0.9, 0.8)),  # corners the other way round
    2: ((0.1, 0.8, 0.9, 0.2), (0.1, 0.2, 0.9, 0.8)),  # only y the other way round
    3: ((-1e300, 0.5, 1e300, 2.0), (0.0, 0.5, 1.0, 1.0)),  # beyond the frame
}
"""seq -> the box its alert carries, and the one drawn."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory = tmp_path_factory.mktemp("fleet-box-corners")
    url = f"sqlite:///{directory}/audit.db"
    messages, previous = [], ZERO_HASH
    for seq, (box, _) in BOXES.items():
        image = jpeg(seq)
        evidence = Evidence(hashlib.sha256(image).hexdigest(), len(image), "image/jpeg", WIDTH, HEIGHT)
        made = dataclasses.replace(
            event(seq),
            kind=AlertKind.INSTANT,
            event_id=f"e{seq}",
            box=box,
            evidence=evidence,
            end_reason=None,
        )
        alert = build_alert(DEVICE, seq, made, previous, KEY)
        previous = alert.hash
        messages += [
            ReceivedMessage(f"edge/{DEVICE}/alerts", encode_alert(alert), AT),
            ReceivedMessage(f"edge/{DEVICE}/evidence/{seq}", image, AT),
        ]
    store = AuditStore.open(url, {DEVICE: KEY})
    store.ingest(messages)
    store.close()
    with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as served:
        yield served


def test_a_box_is_drawn_as_the_rectangle_its_corners_span_inside_the_frame(
    browser: Browser, server: FleetServer
) -> None:
    errors: list[str] = []
    page = logged_in_page(browser, server, f"device/{DEVICE}", errors)
    for seq, (_, drawn) in BOXES.items():
        overlay = page.locator(f'li[data-seq="{seq}"] .thumb svg')
        # Once its image has loaded, the box is placed in the image's own pixels.
        expect(overlay).to_have_attribute("viewBox", f"0 0 {WIDTH} {HEIGHT}", timeout=UI_WAIT_MS)
        placed = overlay.locator("rect").evaluate(
            "(rect) => ['x', 'y', 'width', 'height'].map((name) => Number(rect.getAttribute(name)))"
        )
        left, top, right, bottom = drawn
        expected = [left * WIDTH, top * HEIGHT, (right - left) * WIDTH, (bottom - top) * HEIGHT]
        assert placed == pytest.approx(expected), f"alert {seq}"
    assert errors == []
