"""Motion gating: a cheap per-camera detector that lets static scenes skip inference.

Each sampled frame is shrunk to ``width`` pixels wide (INTER_AREA also averages away sensor and
codec noise), turned grey and blurred, then compared with a running background (an exponential
average, so slow light changes are absorbed). A pixel whose difference exceeds ``threshold`` has
changed; when the changed share of the frame reaches ``min_area`` there is motion. Inference keeps
running for ``hold_s`` after the last motion, so an object that stops moving is still seen for a
moment and rules can close their events. The first frame always passes: a camera has a result to
show (and a background to compare against) from the start.

Under ``mask`` (an on-screen clock, a swaying tree) each frame's small grey picture is replaced by the
first frame's before the blur, so neither the masked pixels nor the blur's spread of them past the
mask's edge ever differ from the background; ``min_area`` stays a share of the whole frame.

The cost is mostly the shrink of the whole frame (``image_shrink``), then three small passes over
the 160x90-ish picture: a check took 3.7 to 4.4 ms of CPU per 4K frame, 2.4 to 2.7 at 2688x1520,
1.2 to 1.4 at 1080p and 0.6 to 0.7 at 720p (bench/frame_shrink.py); bench/cameras.py measures the
CPU of a static scene with gating against the model on every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from gateway.config import MotionConfig
from gateway.domain import Image
from gateway.image_shrink import at_most_wide, shrunk
from gateway.outline_pixels import pixels_under

# Weight of the newest frame in the running background: ~1 s to absorb a change at 5 fps.
BACKGROUND_RATE = 0.2


@dataclass(frozen=True, slots=True)
class MotionDecision:
    run_model: bool
    changed_fraction: float
    """Share of the downscaled frame that differs from the background (0..1)."""


class MotionGate:
    """Not thread-safe: one gate per camera, called from the sampler thread only."""

    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self._background: npt.NDArray[np.float32] | None = None
        self._last_motion_at: float | None = None
        self._masked: npt.NDArray[np.bool_] | None = None
        self._first_under_mask: npt.NDArray[np.uint8] | None = None
        self.last_changed: float | None = None
        """The newest compared frame's ``changed_fraction`` (None before one, or with gating off);
        read by other threads, written by the gate's own."""
        self.last_changed_pixels: npt.NDArray[np.bool_] | None = None
        """Which pixels of the newest compared frame changed, at the gate's small size (None as for
        ``last_changed``); each frame's is a new array, so another thread may read the one it got."""

    def _grey(self, image: Image) -> npt.NDArray[np.uint8]:
        height, width = image.shape[:2]
        small = shrunk(image, *at_most_wide(width, height, self.config.width))
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return np.asarray(
            cv2.GaussianBlur(self._unmasked(np.asarray(grey, dtype=np.uint8)), (5, 5), 0), dtype=np.uint8
        )

    def _unmasked(self, grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """``grey`` with the first frame's pixels under the mask (from this frame on, at a new size)."""
        if not self.config.mask:
            return grey
        first = self._first_under_mask
        if first is None or first.shape != grey.shape or self._masked is None:
            self._masked = pixels_under(self.config.mask, grey.shape)
            self._first_under_mask = grey.copy()
            return grey
        np.copyto(grey, first, where=self._masked)
        return grey

    def check(self, image: Image, now: float) -> MotionDecision:
        """Whether the frame should go to the model; ``now`` is ``time.monotonic()``."""
        if not self.config.enabled:
            return MotionDecision(True, 1.0)
        grey = self._grey(image)
        background = self._background
        if background is None or background.shape != grey.shape:
            self._background = grey.astype(np.float32)
            self._last_motion_at = now
            return MotionDecision(True, 1.0)
        difference = cv2.absdiff(grey, cv2.convertScaleAbs(background))
        changed_pixels = difference > self.config.threshold
        changed = float(np.count_nonzero(changed_pixels)) / difference.size
        cv2.accumulateWeighted(grey, background, BACKGROUND_RATE)
        self.last_changed = changed
        self.last_changed_pixels = changed_pixels
        if changed >= self.config.min_area:
            self._last_motion_at = now
            return MotionDecision(True, changed)
        held = self._last_motion_at is not None and now - self._last_motion_at <= self.config.hold_s
        return MotionDecision(held, changed)

    def respec(self, config: MotionConfig) -> None:
        """A reload's motion settings, of which only the mask may differ from the running ones. A new
        mask starts the background over, as a reconnect does: the part it no longer hides was frozen
        in the background, and would be taken for motion."""
        if config.mask != self.config.mask:
            self.reset()
        self.config = config

    def reset(self) -> None:
        """Forget the background (after a reconnect the view may have changed)."""
        self._background = None
        self._last_motion_at = None
        self._first_under_mask = None
        self.last_changed = None
        self.last_changed_pixels = None
