"""An image sequence (``frames/%05d.jpg``) played run by run: which image each capture of it starts
at, and why one could not.

FFmpeg's image2 demuxer plays a run of consecutive images and ends at the first number missing, so
the images past a gap (a frame deleted, a recorder restarted) are opened at their own first number,
and once none is left the sequence starts over at its first. It also scales every image of a run to
the size of the run's first, a 16:9 image squeezed into 4:3 for as long as the run lasted: a run is
opened again at an image whose header gives another size. The capture itself is ``OpenCvSource``'s.
"""

from __future__ import annotations

from pathlib import Path

from gateway.errors import SourceError
from gateway.ingest.ffmpeg_environment import FFMPEG_OPTIONS_VARIABLE
from gateway.ingest.files import (
    file_problem,
    image_size,
    next_in_sequence,
    sequence_image,
    sequence_start,
)

__all__ = ["ImageSequence", "start_options"]


def start_options(number: int) -> str:
    """The FFmpeg options that open a sequence at its image ``number``: its image2 demuxer looks
    for the first image among 0 to 4 unless told."""
    return f"start_number;{number}"


class ImageSequence:
    """The run of an image sequence now playing: the number of its first image, the size of that
    image, and how many of its images were grabbed."""

    def __init__(self, target: str, display: str) -> None:
        """The sequence whose path pattern is ``target``; SourceError when no image matches it (its
        images were removed since it was looked at)."""
        pattern = Path(target)
        first = sequence_start(pattern)
        if first is None:
            raise SourceError(f"no image matches the sequence {target}")
        self._pattern, self._display, self._first = pattern, display, first
        self.start = first
        self._frames = 0
        self._size = image_size(sequence_image(pattern, first))

    def not_opened(self, *, options_replaced: bool) -> str:
        """Why the sequence did not open at its first image, given whether FFmpeg's options were set
        outside the gateway (they replace ours, its ``start_number`` with them)."""
        why = (
            f"{FFMPEG_OPTIONS_VARIABLE} is set outside the gateway and replaces the "
            f"start_number;{self._first} it needs"
            if options_replaced
            else "is that image empty, truncated, or not an image?"
        )
        return (
            f"cannot open the image sequence {self._display} at its first image, number {self._first} ({why})"
        )

    def grabbed(self) -> int | None:
        """Counts the image just grabbed: its number when its size is not its run's first one's
        (the run is to be opened again at it), else None."""
        self._frames += 1
        number = self.start + self._frames - 1
        size = image_size(sequence_image(self._pattern, number))
        if size is None or self._size is None or size == self._size:
            return None
        return number

    def next_run(self) -> int:
        """Where to open the sequence once its run ended: the next image past the last one played
        (past a gap, a missing image, or an image added since), or its first when there is none.
        SourceError when its images are no longer there, or no longer make a sequence."""
        problem = file_problem(self._pattern)  # its images may have changed since it was opened
        if problem is not None:
            raise SourceError(problem)
        number = next_in_sequence(self._pattern, self.start + self._frames - 1)
        if number is None:
            number = sequence_start(self._pattern)
        if number is None:
            raise SourceError(f"{self._display}: its images were removed while it played")
        return number

    def unreadable(self, number: int) -> str:
        """Why a run could not open at image ``number``, so that a bad image is never silently where
        the sequence starts over."""
        image = sequence_image(self._pattern, number)
        return f"{self._display}: cannot read its image {image} (empty, truncated, or not an image?)"

    def started(self, number: int) -> None:
        """A run opened at image ``number``, with that image grabbed."""
        self.start, self._frames = number, 1
        self._size = image_size(sequence_image(self._pattern, number))
