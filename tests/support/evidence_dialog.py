"""What the evidence dialog of either console shows, read from the page: its picture at the size it
is shown and the alert's box drawn where the alert says."""

from __future__ import annotations

from playwright.sync_api import Locator

Box = tuple[float, float, float, float]


def check_shown_with_box(dialog: Locator, width: int, height: int, box: Box) -> None:
    """The picture of ``dialog`` is shown ``width`` x ``height`` and its rectangle lies over it at the
    normalised corners ``box``, within 2 pixels."""
    shown = dialog.locator("img").bounding_box()
    drawn = dialog.locator("svg rect").bounding_box()
    assert shown is not None
    assert drawn is not None
    assert (round(shown["width"]), round(shown["height"])) == (width, height)
    corners = (drawn["x"], drawn["y"], drawn["x"] + drawn["width"], drawn["y"] + drawn["height"])
    left, top, right, bottom = box
    expected = (
        shown["x"] + left * width,
        shown["y"] + top * height,
        shown["x"] + right * width,
        shown["y"] + bottom * height,
    )
    assert all(abs(got - want) <= 2 for got, want in zip(corners, expected, strict=True)), (corners, expected)
