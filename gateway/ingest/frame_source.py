"""What the camera reader reads from: ``FrameSource``, an opened stream of decoded frames, the
optional abilities a source may have (an announced frame rate, a wait another thread can end), and
``SourceFactory``, which opens one. ``opencv_source.OpenCvSource`` is the real one; tests script
their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from gateway.domain import Image

__all__ = [
    "FrameSource",
    "Interruptible",
    "ReportsFrameRate",
    "ReportsNotice",
    "SourceFactory",
    "interrupt",
    "nominal_fps",
]


class FrameSource(Protocol):
    """An opened stream of decoded frames.

    ``grab`` advances to the next frame without converting it to BGR; ``retrieve`` converts the
    grabbed frame. A camera sampled at 5 fps from a 25 fps stream converts only the frames it may
    use: the conversion is about a third of the decode cost (0.38 vs 0.24 ms CPU per 640x360 frame
    for read vs grab, measured here), which is most of what a static, motion-gated camera costs.
    """

    def grab(self) -> None:
        """Advance to the next frame. Raises SourceError when the stream fails or ends."""
        ...

    def retrieve(self) -> Image:
        """The grabbed frame as BGR. Raises SourceError when it cannot be converted."""
        ...

    def read(self) -> Image:
        """``grab`` then ``retrieve``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ReportsFrameRate(Protocol):
    """A source that knows the frame rate its stream announces (None: it announces none)."""

    @property
    def nominal_fps(self) -> float | None: ...


def nominal_fps(source: FrameSource) -> float | None:
    """The frame rate ``source`` announces, or None (unknown, or a source that cannot tell)."""
    return source.nominal_fps if isinstance(source, ReportsFrameRate) else None


@runtime_checkable
class ReportsNotice(Protocol):
    """A source that can tell what is wrong with the frames it gives, though they come (a file's
    frames squeezed into its first size from where its size changes), or None."""

    @property
    def notice(self) -> str | None: ...


@runtime_checkable
class Interruptible(Protocol):
    """A source whose waits (a file paced at its frame rate) another thread can end at once."""

    def interrupt(self) -> None: ...


def interrupt(source: FrameSource) -> None:
    """End ``source``'s wait for its next frame, if it waits, so its reader can stop."""
    if isinstance(source, Interruptible):
        source.interrupt()


SourceFactory = Callable[[], FrameSource]
"""Opens a new source for one camera; raises SourceError when it cannot."""
