"""What a console tile or the camera page's stage asks the gateway for: its picture's box on screen,
in device pixels, up to the next 80, 1280 at most (``cameras.js``'s ``pictureSide``)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator

STEP = 80
LARGEST = 1280
SCROLLBAR = 20
"""The most a scroll bar appearing after the request (the page grew) narrows a tile, in CSS pixels."""


def longest_side_in(url: str) -> int:
    found = re.search(r"[?&]longest_side=(\d+)(&|$)", url)
    assert found is not None, url
    return int(found.group(1))


def assert_asked_for_its_box(asked: int, picture: Locator, scale: float) -> None:
    """``asked`` is the picture's box, in device pixels, up to the next step: the box may have
    narrowed by a scroll bar since it was asked for, never widened."""
    box = picture.evaluate("(image) => Math.max(image.clientWidth, image.clientHeight)")
    assert asked % STEP == 0 or asked == LARGEST, asked
    if box * scale >= LARGEST:
        assert asked == LARGEST, (asked, box)
        return
    assert box * scale <= asked < (box + SCROLLBAR) * scale + STEP, (asked, box)
