"""What a frame looks like to the anomaly model (aspect, colour or grey), what enrollment records of
it, and when a frame does not match: table-tested on synthetic images (pure)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from gateway.rules.scene_format import Colour, SceneFormat

Image = npt.NDArray[np.uint8]


def scene(height: int = 180, width: int = 320, seed: int = 3) -> Image:
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = (90, 120, 140)
    noise = rng.integers(-4, 5, size=image.shape)
    noisy: Image = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return noisy


def greyed(image: Image) -> Image:
    luma = image.mean(axis=2, keepdims=True).astype(np.uint8)
    return np.repeat(luma, 3, axis=2)


@pytest.mark.parametrize(
    ("image", "colour"),
    [
        (scene(), Colour.COLOUR),
        (greyed(scene()), Colour.GREY),
        (greyed(scene())[:, :, 0], Colour.GREY),  # one channel
        ((scene() // 16).astype(np.uint8), None),  # too dark to tell
    ],
)
def test_a_frame_is_told_grey_or_colour_on_its_lit_pixels(image: Image, colour: Colour | None) -> None:
    assert SceneFormat.of_image(image) == SceneFormat(320, 180, colour)


def test_a_grey_frame_with_a_coloured_logo_is_still_grey() -> None:
    image = greyed(scene())
    image[:10, :10, 2] = 255  # the camera's overlay: a fifth of a per cent of the pixels
    assert SceneFormat.of_image(image).colour is Colour.GREY


def test_a_dull_colour_frame_is_not_taken_for_grey() -> None:
    # a neutral scene whose chroma compression left a level or two off on a few per cent of pixels
    image = greyed(scene())
    image[::10, :, 0] = np.clip(image[::10, :, 0].astype(np.int16) + 3, 0, 255).astype(np.uint8)
    assert SceneFormat.of_image(image).colour is Colour.COLOUR


def test_enrollment_records_what_nearly_every_frame_had() -> None:
    colour, grey = SceneFormat(1920, 1080, Colour.COLOUR), SceneFormat(1920, 1080, Colour.GREY)
    assert SceneFormat.of_enrollment([colour] * 19 + [grey]) == colour
    assert SceneFormat.of_enrollment([colour] * 5 + [grey] * 5) == SceneFormat(1920, 1080, None)
    # a 720p frame has the aspect of 1080p: one aspect; a 4:3 one does not
    assert SceneFormat.of_enrollment([colour, SceneFormat(1280, 720, Colour.COLOUR)]) == colour
    assert SceneFormat.of_enrollment([colour, SceneFormat(640, 480, Colour.COLOUR)]) == SceneFormat(
        None, None, Colour.COLOUR
    )
    assert SceneFormat.of_enrollment([]) == SceneFormat()


def test_the_metadata_round_trips_and_an_older_model_has_none() -> None:
    enrolled = SceneFormat(1920, 1080, Colour.GREY)
    entries = enrolled.metadata()
    assert entries == {"frame_aspect": "1.77778", "frame_size": "1920x1080", "frame_colour": "grey"}
    assert SceneFormat.from_metadata({"camera_id": "gate", **entries}) == enrolled
    assert SceneFormat.from_metadata({"camera_id": "gate"}) == SceneFormat()


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ({"frame_size": "wide"}, "frame_size must be WIDTHxHEIGHT"),
        ({"frame_size": "0x1080"}, "frame_size must be positive"),
        ({"frame_colour": "sepia"}, "frame_colour must be colour or grey"),
    ],
)
def test_unreadable_metadata_is_an_error_naming_the_entry(entries: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SceneFormat.from_metadata(entries)


def test_a_frame_of_another_aspect_or_colour_mode_does_not_match() -> None:
    enrolled = SceneFormat(1920, 1080, Colour.COLOUR)
    assert enrolled.mismatch(SceneFormat(1280, 720, Colour.COLOUR)) is None
    assert enrolled.mismatch(SceneFormat(1280, 720, None)) is None  # too dark to tell: scored
    aspect = enrolled.mismatch(SceneFormat(640, 480, Colour.COLOUR))
    assert aspect is not None
    assert aspect.startswith("frames are 640x480, another aspect than the 1920x1080")
    colour = enrolled.mismatch(SceneFormat(1920, 1080, Colour.GREY))
    assert colour is not None
    assert colour.startswith("frames are grey")
    # an older model knows nothing to compare: every frame matches
    assert SceneFormat().mismatch(SceneFormat(640, 480, Colour.GREY)) is None
