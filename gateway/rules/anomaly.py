"""The anomaly rule's own logic, per camera: where an anomaly is, and when a change that stays
becomes the scene's new normal. Pure: no I/O, no clock, no config (the wiring passes a spec).

Location. The scene-anomaly model's map scores every cell of a coarse grid; the cells at or above the
threshold are anomalous. When they form one region (8-connected), the anomaly's box is the map's
peak cell, normalised to the frame; when they are scattered over several regions, there is no single
place to point at and the box is None. The score is the peak cell's.

New normal. A parked car is anomalous for as long as it stays: without more, the rule would end
its event after ``max_event_s``, start another after the cooldown, and so on, every few minutes
for as long as the car is there. Instead, once cells have been anomalous without a break (misses
shorter than ``grace_s`` forgiven) for ``new_normal_after_s``, they and every other cell whose own
streak began at most ``grace_s`` later (one change: the cells of a parked car, or of a change that
spreads over scattered regions of the map, do not all cross the threshold on the same frame), with
the connected region around them of cells at two thirds of the threshold or more, widened by one
cell, become one *patch* of new normal:

- the patch's cells no longer hold the rule, so the running anomaly event ends as usual;
- the change is reported once, as an event of its own: a ``scene_change`` start and end at the same
  frame, with the patch's box (around all of its regions). A cell of the change that would have
  lasted ``new_normal_after_s`` up to ``grace_s`` later joins now, rather than raising a second
  ``scene_change`` of its own moments after the first; a change that began more than ``grace_s``
  after it is a change of its own, reported when it has lasted ``new_normal_after_s`` in turn;
- the camera reports the change (``change()``) so an operator can re-enroll;
- the patch is lifted when at most a tenth of its cells have been anomalous for ``grace_s``: the
  car drove away, and the scene is back to what the model learned.

Anything new in front of a patch still shows in the cells around it. A model without a map (an
older model.yaml) keeps the frame-level behaviour: the detection's score, box None, no patches.

::

    cell: cool ──(anomalous)──► hot ──(hot for new_normal_after_s)──► part of a patch
            ▲                     │                                         │
            └──(cool for grace_s)─┘        patch lifted (quiet for grace_s) ┘
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.domain import AlertEvent, AlertKind, AnomalyMap, Box, FrameResult, SceneChange
from gateway.rules.event_ids import EventIds

ANOMALY = "anomaly"
SCENE_CHANGE = "scene_change"
LIFT_SHARE = 0.1
"""A patch is lifted once at most this share of its cells are anomalous (for ``grace_s``)."""
WARM_SHARE = 2 / 3
"""A patch takes in the cells around the lasting ones down to this share of the threshold: the
coarse windows of the model spread a change a few cells beyond its edge, at about the threshold."""

Mask = npt.NDArray[np.bool_]
_NEIGHBOURS = tuple((dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc)


@dataclass(frozen=True, slots=True)
class SceneAnomalySpec:
    new_normal_after_s: float | None
    """Cells anomalous this long without a break become the new normal; None: never."""
    grace_s: float
    """Misses shorter than this do not break a streak; a patch is lifted after this long quiet."""


@dataclass(frozen=True, slots=True)
class Finding:
    """The anomaly rule holds on this frame: the best score and, for one region, its peak cell."""

    score: float
    box: Box | None


def regions(mask: Mask) -> Iterator[Mask]:
    """The 8-connected regions of ``mask``, each as a mask of its own."""
    rows, columns = mask.shape
    seen = np.zeros_like(mask)
    for row, column in zip(*np.nonzero(mask), strict=True):
        if seen[row, column]:
            continue
        region = np.zeros_like(mask)
        stack = [(int(row), int(column))]
        seen[row, column] = True
        while stack:
            r, c = stack.pop()
            region[r, c] = True
            for dr, dc in _NEIGHBOURS:
                nr, nc = r + dr, c + dc
                if 0 <= nr < rows and 0 <= nc < columns and mask[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    stack.append((nr, nc))
        yield region


def bounding_box(mask: Mask) -> Box:
    """The normalised box around every cell of ``mask`` (which must have one)."""
    rows, columns = mask.shape
    found_rows, found_columns = np.nonzero(mask)
    return (
        float(found_columns.min()) / columns,
        float(found_rows.min()) / rows,
        float(found_columns.max() + 1) / columns,
        float(found_rows.max() + 1) / rows,
    )


def _widen(mask: Mask) -> Mask:
    """``mask`` and its 8 neighbours."""
    padded = np.pad(mask, 1)
    rows, columns = mask.shape
    widened = np.zeros_like(mask)
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            widened |= padded[dr : dr + rows, dc : dc + columns]
    return widened


@dataclass(slots=True)
class _Patch:
    cells: Mask
    since: float
    quiet_since: float | None = None


class SceneAnomaly:
    """One camera's anomaly rule state: streaks per cell and patches of new normal."""

    def __init__(self, spec: SceneAnomalySpec, ids: EventIds | None = None) -> None:
        """``ids``: the camera's event ids (shared with its other rules; None: this rule's own)."""
        self.spec = spec
        self._ids = EventIds() if ids is None else ids
        self.camera_id = ""
        """The camera of the results judged (every result of one rule is of one camera)."""
        self._shape: tuple[int, ...] | None = None
        self._hot_since = np.zeros(0)
        self._hot_last = np.zeros(0)
        self._patches: list[_Patch] = []

    def judge(self, result: FrameResult) -> tuple[Finding | None, list[AlertEvent]]:
        """The rule's finding on one frame of the anomaly model, and any scene-change events."""
        self.camera_id = result.camera_id
        anomaly_map = result.anomaly_map
        if anomaly_map is None:
            scores = [detection.score for detection in result.detections if detection.label == ANOMALY]
            return (Finding(max(scores), None) if scores else None), []
        hot = np.asarray(anomaly_map.cells >= anomaly_map.threshold, dtype=np.bool_)
        now = result.captured_at
        self._track(hot, now)
        events = self._absorb(result, anomaly_map, hot, now)
        return self._finding(anomaly_map, hot & ~self._patched()), events

    def change(self) -> SceneChange | None:
        """The current departure from the learned scene, or None while there is none."""
        if not self._patches:
            return None
        patched = self._patched()
        return SceneChange(
            self.camera_id,
            min(patch.since for patch in self._patches),
            float(patched.mean()),
            bounding_box(patched),
        )

    def _patched(self) -> Mask:
        patched = np.zeros(self._shape or (0, 0), dtype=np.bool_)
        for patch in self._patches:
            patched |= patch.cells
        return patched

    def _track(self, hot: Mask, now: float) -> None:
        if self._shape != hot.shape:
            # a new model version with another grid: what was learned of the old one does not apply
            self._shape = hot.shape
            self._hot_since = np.full(hot.shape, np.nan)
            self._hot_last = np.full(hot.shape, -np.inf)
            self._patches = []
        broken = ~hot & (now - self._hot_last >= self.spec.grace_s)
        self._hot_since[broken] = np.nan
        starting = hot & np.isnan(self._hot_since)
        self._hot_since[starting] = now
        self._hot_last[hot] = now
        for patch in list(self._patches):
            if hot[patch.cells].mean() > LIFT_SHARE:
                patch.quiet_since = None
            elif patch.quiet_since is None:
                patch.quiet_since = now
            if patch.quiet_since is not None and now - patch.quiet_since >= self.spec.grace_s:
                self._patches.remove(patch)

    def _absorb(
        self, result: FrameResult, anomaly_map: AnomalyMap, hot: Mask, now: float
    ) -> list[AlertEvent]:
        after = self.spec.new_normal_after_s
        if after is None:
            return []
        patched = self._patched()
        age = now - np.nan_to_num(self._hot_since, nan=now)
        if not (hot & ~patched & (age >= after)).any():
            return []
        # the cells of one change cross the threshold over a few frames: those whose streak began
        # within grace_s of the lasting ones' (a short miss now included) are the same change
        joining = ~patched & ~np.isnan(self._hot_since) & (age >= after - self.spec.grace_s)
        warm = (anomaly_map.cells >= WARM_SHARE * anomaly_map.threshold) & ~patched
        cells = np.zeros_like(hot)
        for region in regions(warm | joining):
            if (region & joining).any():
                cells |= region
        cells = _widen(cells) & ~patched
        self._patches.append(_Patch(cells, now))
        score = float(min(max(anomaly_map.cells[cells].max(), 0.0), 1.0))
        box = bounding_box(cells)
        # From the camera's ids, as every other rule's: after the clock stepped back (the engine's
        # ``restart``) a capture time given out before gets the restart's ``~N``, so a scene change
        # never shares the id of an earlier one (the outbox and the audit side group by event id).
        event_id = self._ids.new(f"{self.camera_id}:{ANOMALY}:{SCENE_CHANGE}:", now)
        return [
            AlertEvent(
                event_id, kind, self.camera_id, ANOMALY, SCENE_CHANGE, score, None, box, now, result.model
            )
            for kind in (AlertKind.START, AlertKind.END)
        ]

    @staticmethod
    def _finding(anomaly_map: AnomalyMap, active: Mask) -> Finding | None:
        if not active.any():
            return None
        scores = np.where(active, anomaly_map.cells, -np.inf)
        peak = np.unravel_index(int(np.argmax(scores)), scores.shape)
        score = float(min(max(float(scores[peak]), 0.0), 1.0))
        single = sum(1 for _ in regions(active)) == 1
        return Finding(score, anomaly_map.cell_box(int(peak[0]), int(peak[1])) if single else None)
