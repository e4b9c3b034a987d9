"""What a camera's frames look like to its scene-anomaly model: their aspect and whether they are in
colour or grey (``SceneFormat``). Pure: numpy on an image already in memory, no I/O.

The anomaly model learns one scene from the frames it was enrolled on, stretched to its input size.
A frame of another aspect (the camera switched to another stream, or its resolution changed to one
of another shape) is stretched differently, and a grey frame (a camera that switches to infrared at
night) has lost the colour the model compares: either way every cell differs from what was learned,
and the whole frame scored as one anomaly. Enrollment records the format it saw in the model's
metadata (``metadata``); the decider measures each anomaly frame (``of_image``) and does not score
one that does not match (``mismatch``), saying so instead. A model enrolled before this was recorded
has no such metadata: every field is None, and every frame is scored as before.

Grey is told from colour on the lit pixels only (``LIT``): in the dark a colour camera's pixels are
near black in every channel, and look as neutral as an infrared picture. An infrared picture decoded
from H.264 or JPEG has its chroma planes at exactly neutral, so each of its pixels has equal
channels. The test is kept that strict (``NEUTRAL_SPREAD``, ``GREY_SHARE``) because a colour frame
taken for grey is not scored: a colour camera on a dull, white-balanced scene (a grey corridor) has
channels a few levels apart wherever compression left its chroma a level off, and a frame judged
grey while its enrollment was judged colour would hide the very person in a red coat that made it
colour again.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SAMPLES = 128
"""Pixels sampled along the shorter side of a frame to tell grey from colour (a strided view)."""
LIT = 32
"""A pixel whose brightest channel is below this says nothing about colour."""
LIT_SHARE = 0.05
"""Fewer lit pixels than this share: too dark to tell grey from colour."""
NEUTRAL_SPREAD = 2
"""Channels at most this far apart (grey levels): a neutral pixel (rounding in the conversion)."""
GREY_SHARE = 0.005
"""A frame is grey when at most this share of its lit pixels is coloured (a coloured logo in the
camera's overlay is less)."""
ASPECT_TOLERANCE = 0.02
"""Aspects within 2 % are one aspect (a 1080p and a 720p stream of one camera match; rounding of
odd sizes stays well inside)."""
ENROLLED_SHARE = 0.9
"""Enrollment records grey or colour when at least this share of the frames it could tell were."""

ASPECT_KEY = "frame_aspect"
SIZE_KEY = "frame_size"
COLOUR_KEY = "frame_colour"


class Colour(str, enum.Enum):
    COLOUR = "colour"
    GREY = "grey"


@dataclass(frozen=True, slots=True)
class SceneFormat:
    """A frame's shape and colour, or what enrollment saw; None where unknown or not recorded."""

    width: int | None = None
    height: int | None = None
    colour: Colour | None = None

    @property
    def aspect(self) -> float | None:
        if self.width is None or self.height is None:
            return None
        return self.width / self.height

    @classmethod
    def of_image(cls, image: npt.NDArray[np.uint8]) -> SceneFormat:
        """The format of one frame (BGR, or one channel: grey)."""
        height, width = image.shape[:2]
        if image.ndim == 2 or image.shape[2] == 1:
            return cls(width, height, Colour.GREY)
        step = max(1, min(height, width) // SAMPLES)
        sample = image[::step, ::step, :3].astype(np.int16)
        brightest, darkest = sample.max(axis=2), sample.min(axis=2)
        lit = brightest >= LIT
        if lit.sum() < LIT_SHARE * lit.size:
            return cls(width, height, None)
        coloured = float(np.mean((brightest - darkest)[lit] > NEUTRAL_SPREAD))
        return cls(width, height, Colour.GREY if coloured <= GREY_SHARE else Colour.COLOUR)

    @classmethod
    def of_enrollment(cls, formats: Iterable[SceneFormat]) -> SceneFormat:
        """What an enrollment's frames had in common: the first frame's size when every frame has
        its aspect, grey or colour when nearly every frame that could be told was."""
        seen = list(formats)
        if not seen:
            return cls()
        first = seen[0]
        same_aspect = all(_same_aspect(first.aspect, other.aspect) for other in seen)
        known = [other.colour for other in seen if other.colour is not None]
        colour = None
        for candidate in Colour:
            if known and known.count(candidate) >= ENROLLED_SHARE * len(known):
                colour = candidate
        return cls(first.width if same_aspect else None, first.height if same_aspect else None, colour)

    def metadata(self) -> dict[str, str]:
        """The model metadata entries that record this format (none for what is unknown)."""
        entries = {}
        if self.width is not None and self.height is not None:
            entries[ASPECT_KEY] = f"{self.width / self.height:.6g}"
            entries[SIZE_KEY] = f"{self.width}x{self.height}"
        if self.colour is not None:
            entries[COLOUR_KEY] = self.colour.value
        return entries

    @classmethod
    def from_metadata(cls, entries: Mapping[str, str]) -> SceneFormat:
        """The format a model's metadata records; every field None for a model enrolled before it
        was recorded. Raises ValueError for entries that are there but unreadable."""
        width = height = None
        size = entries.get(SIZE_KEY)
        if size is not None:
            try:
                width, height = (int(part) for part in size.split("x"))
            except ValueError:
                raise ValueError(f"model metadata {SIZE_KEY} must be WIDTHxHEIGHT, got {size!r}") from None
            if width < 1 or height < 1:
                raise ValueError(f"model metadata {SIZE_KEY} must be positive, got {size!r}")
        colour = entries.get(COLOUR_KEY)
        try:
            return cls(width, height, None if colour is None else Colour(colour))
        except ValueError:
            raise ValueError(f"model metadata {COLOUR_KEY} must be colour or grey, got {colour!r}") from None

    def mismatch(self, frame: SceneFormat) -> str | None:
        """Why ``frame`` does not match this enrolled format, or None when it does (or either side
        does not know)."""
        if not _same_aspect(self.aspect, frame.aspect):
            return (
                f"frames are {frame.width}x{frame.height}, another aspect than the "
                f"{self.width}x{self.height} the anomaly model was enrolled on"
            )
        if self.colour is not None and frame.colour is not None and frame.colour is not self.colour:
            return (
                f"frames are {frame.colour.value} (a camera in night or infrared mode?), the anomaly "
                f"model was enrolled on {self.colour.value} frames"
            )
        return None


def _same_aspect(first: float | None, second: float | None) -> bool:
    if first is None or second is None:
        return True
    return abs(math.log(first / second)) <= ASPECT_TOLERANCE
