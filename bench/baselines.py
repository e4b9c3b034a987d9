"""The baselines the scene-anomaly model is compared with: OpenCV's background subtractors.

``cv2.createBackgroundSubtractorMOG2`` (a mixture of Gaussians per pixel) and
``cv2.createBackgroundSubtractorKNN`` (nearest samples per pixel), from the opencv-python-headless
wheel the gateway already depends on. Each learns the clip's normal prefix first (the frames
enrollment sees), then keeps learning while the rest plays, as it would on a camera. A frame is
anomalous when its largest foreground blob (shadows, marked 127, dropped; a 3 x 3 opening removes
speckle) covers at least ``min_area`` of the frame; its score is that share. Decisions go through
the same event rule and judging as the gateway's own model (``replay.py``).

Kept well: the settings below are the best of grids searched on the **tuning** set only
(``bench/anomaly_tuning.py baselines``), each setting with min_area 0.2 / 0.5 / 1 / 2 % of the frame:

- MOG2: history 100 / 500 x varThreshold 16 / 25 / 49 x shadows on / off, then (the best so far was
  at the grid's edge) history 50 / 100 x varThreshold 49 / 81 / 121 with shadows off;
- KNN (shadows on; each setting costs 4x MOG2's time): history 100 / 500 x dist2Threshold
  200 / 400 / 800, then history 50 / 100 x 800 / 1600 / 3200.

Best, judged the way the gateway's model is: fewest alerts on the drift-only clip first, then the
highest recall at precision >= 0.95. Lower thresholds find more events (MOG2 history 50,
varThreshold 49: recall 0.931) but alert on lighting drift (3 alerts on the drift-only clip).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from bench.clips import Image
from bench.replay import Decision

SHADOW = 127
FOREGROUND = 255


@dataclass(frozen=True, slots=True)
class SubtractorSettings:
    kind: str
    """``mog2`` or ``knn``."""
    history: int
    threshold: float
    """MOG2: varThreshold (squared Mahalanobis distance); KNN: dist2Threshold (squared distance)."""
    shadows: bool
    min_area: float
    """Share of the frame the largest foreground blob must cover."""

    @property
    def label(self) -> str:
        return "MOG2" if self.kind == "mog2" else "KNN"


MOG2 = SubtractorSettings("mog2", history=100, threshold=121.0, shadows=False, min_area=0.002)
"""Tuning set: precision 1.000, recall 0.822, no drift-clip alert."""
KNN = SubtractorSettings("knn", history=50, threshold=1600.0, shadows=True, min_area=0.005)
"""Tuning set: precision 1.000, recall 0.911, 2 drift-clip alerts (none of the grid had none)."""
BASELINES = (MOG2, KNN)


class Subtractor:
    """One camera's background subtractor and blob rule."""

    def __init__(self, settings: SubtractorSettings) -> None:
        self.settings = settings
        self._model: cv2.BackgroundSubtractor
        if settings.kind == "mog2":
            self._model = cv2.createBackgroundSubtractorMOG2(
                history=settings.history, varThreshold=settings.threshold, detectShadows=settings.shadows
            )
        elif settings.kind == "knn":
            self._model = cv2.createBackgroundSubtractorKNN(
                history=settings.history, dist2Threshold=settings.threshold, detectShadows=settings.shadows
            )
        else:
            raise ValueError(f"unknown background subtractor {settings.kind!r}")
        self._kernel = np.ones((3, 3), dtype=np.uint8)

    def learn(self, frames: Iterable[Image]) -> None:
        for frame in frames:
            self._model.apply(frame)

    def largest_blob(self, frame: Image) -> float:
        """Share of the frame covered by the largest foreground blob (after learning from it)."""
        mask = self._model.apply(frame)
        foreground = np.where(mask == FOREGROUND, np.uint8(255), np.uint8(0))
        opened = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, self._kernel)
        count, _, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
        if count <= 1:
            return 0.0
        return float(stats[1:, cv2.CC_STAT_AREA].max()) / float(frame.shape[0] * frame.shape[1])

    def decisions(self, frames: Iterable[Image]) -> Iterator[Decision]:
        for frame in frames:
            share = self.largest_blob(frame)
            yield Decision(share, share >= self.settings.min_area)


def cpu_per_frame_ms(settings: SubtractorSettings, frames: list[Image]) -> float:
    """Median process CPU time of one ``largest_blob`` call, ms."""
    subtractor = Subtractor(settings)
    subtractor.learn(frames[:20])
    times = []
    for frame in frames[20:]:
        began = time.process_time()
        subtractor.largest_blob(frame)
        times.append(time.process_time() - began)
    return float(np.median(times) * 1000.0)
