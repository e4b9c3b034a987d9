"""Anomaly frames that do not match what their model was enrolled on (``gateway.rules.scene_format``:
another aspect, grey frames for a colour enrollment or colour for a grey one) are not scored: the
model would find the whole frame anomalous, and the rules would raise an anomaly that is only the
camera's night mode or a new stream. Each such frame is counted per camera; the camera's state
(``mismatches``, the ``edge_gateway_anomaly_frame_mismatch`` gauge) says why while it lasts, and one
log line marks each change (into a mismatch, to another reason, back to matching frames).

The frame is measured and compared on the camera's callback thread (``check``), where it is in
hand, so the camera's sampler learns at once that the frame's anomaly map is not to be believed (it
must not hold the camera anomalous, nor keep a still scene's frames going to the models); the
enrolled format is looked up once per model version. The camera's state moves on the decider thread
(``scored``), in frame order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.domain import Frame, FrameResult, ModelRef
from gateway.rules.scene_format import SceneFormat

logger = logging.getLogger("gateway.decider")

EnrolledFormats = Callable[[ModelRef], SceneFormat | None]
"""The format a version of an anomaly model was enrolled on (None: not known); may raise."""


@dataclass(frozen=True, slots=True)
class Checked:
    """An anomaly frame compared with its model's enrollment."""

    mismatch: str | None
    """Why it does not match (it is not scored); None when it does."""


class FormatCheck:
    def __init__(self, enrolled: EnrolledFormats | None, registry: CollectorRegistry) -> None:
        """``enrolled``: None checks nothing (every frame is scored)."""
        self._enrolled = enrolled
        self._known: dict[ModelRef, SceneFormat | None] = {}
        self._known_lock = threading.Lock()
        """Held while a model's enrolled format is looked up: cameras' callback threads check at once."""
        self._lock = threading.Lock()
        self._mismatched: dict[str, str] = {}
        """Per camera whose latest anomaly frame did not match: why."""
        self._unscored = Counter(
            "edge_gateway_anomaly_frames_unscored",
            "Anomaly frames not scored because they do not match what the camera's anomaly model was "
            "enrolled on (another aspect; grey frames for a colour enrollment, or colour for grey).",
            ["camera"],
            registry=registry,
        )
        self._state = Gauge(
            "edge_gateway_anomaly_frame_mismatch",
            "1 while the camera's anomaly frames do not match what its anomaly model was enrolled on "
            "(they are not scored; re-enroll for the new format), else 0.",
            ["camera"],
            registry=registry,
        )

    def check(self, result: FrameResult, frame: Frame | None) -> Checked | None:
        """An anomaly result's frame compared with its model's enrollment; None for other results, or
        with nothing to check. Any thread."""
        if self._enrolled is None or frame is None or result.anomaly_score is None:
            return None
        enrolled = self._format_of(result.model)
        return Checked(None if enrolled is None else enrolled.mismatch(SceneFormat.of_image(frame.image)))

    def scored(self, result: FrameResult, checked: Checked | None) -> bool:
        """Whether the rules may score ``result`` (``checked``: from ``check``); the camera's state
        follows. The decider's thread."""
        if checked is None:
            return True
        why = checked.mismatch
        camera = result.camera_id
        before = self._mismatched.get(camera)
        if why == before:
            if why is not None:
                self._unscored.labels(camera).inc()
            return why is None
        extra = {"camera": camera, "model": f"{result.model.name}:{result.model.version}"}
        if why is None:
            logger.info("anomaly frames match the model's enrollment again: scored", extra=extra)
            with self._lock:
                del self._mismatched[camera]
            self._state.labels(camera).set(0)
            return True
        logger.warning("anomaly frames not scored: %s; re-enroll the camera for them", why, extra=extra)
        with self._lock:
            self._mismatched[camera] = why
        self._state.labels(camera).set(1)
        self._unscored.labels(camera).inc()
        return False

    def mismatches(self) -> dict[str, str]:
        """Per camera whose anomaly frames do not match its model's enrollment: why (any thread)."""
        with self._lock:
            return dict(self._mismatched)

    def forget(self, camera_ids: set[str]) -> None:
        """Cameras no longer judged (a reload removed them) have no state to report."""
        with self._lock:
            for camera in [camera for camera in self._mismatched if camera not in camera_ids]:
                del self._mismatched[camera]
                self._state.labels(camera).set(0)

    def _format_of(self, model: ModelRef) -> SceneFormat | None:
        with self._known_lock:
            return self._look_up(model)

    def _look_up(self, model: ModelRef) -> SceneFormat | None:
        if model in self._known:
            return self._known[model]
        assert self._enrolled is not None  # check() returns None without a lookup
        try:
            found = self._enrolled(model)
        except Exception as exc:  # an unreadable model file must not stop the decider
            logger.warning(
                "cannot read what %s:%s was enrolled on (%s): its frames are scored unchecked",
                model.name,
                model.version,
                exc,
            )
            found = None
        self._known[model] = found
        return found
