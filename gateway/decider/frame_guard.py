"""The per-camera frame guard: each camera's tracker, and the frames that fail before the rules.

A frame that fails before the rules judge it (its camera's tracker refuses it or raises, or the
live view or ``observe`` callback raises) is skipped for that camera alone: counted under
``edge_gateway_decider_frames_failed``, logged once per camera and problem (with its traceback),
and the rules never see it, so the camera's open events get no news and end the normal way (``tick``
ends them ``end_after_s`` later, or ``stop`` does). A tracker that raised anything but its own
refusal of the input (``TrackerInputError``, raised before it changed) may be half updated: it is
replaced, its ids continuing. While a camera's frames have failed for ``failing_health_s`` with none
judged since, ``problems`` names it. An exception from the rules themselves is not guarded here: it
stays fatal (see ``gateway.decider``).

A reload's new tracker specs are taken between two frames (``retune``): a camera's changed settings
keep its tracks and their ids, so the objects in view keep their events, unless the motion model
changed (a new tracker, its ids continuing).

The decider's thread owns it; only ``problems`` is called from other threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from prometheus_client import CollectorRegistry, Counter

from gateway.domain import Detection, FrameResult
from gateway.rules.engine import RuleEngine
from gateway.tracking import Tracker, TrackerSpec
from gateway.tracking.tracker import TrackerInputError

logger = logging.getLogger("gateway.decider")
"""The decider's logger, not this module's: these records carried its name before the guard was
split out of it, and log filters and tests name it."""

FAILING_HEALTH_S = 10.0
"""A camera whose frames have all failed (skipped) for this long, none judged since, is a health
problem: a lasting failure must not hide behind one log line."""

Show = Callable[[str, tuple[Detection, ...]], None]
"""(camera id, its newest detections with track ids): what the camera's live picture draws."""


class FrameGuard:
    def __init__(
        self,
        rules: RuleEngine,
        trackers: Mapping[str, TrackerSpec],
        *,
        registry: CollectorRegistry,
        clock: Callable[[], float],
        show: Show | None = None,
        observe: Callable[[FrameResult], None] | None = None,
        failing_health_s: float = FAILING_HEALTH_S,
    ) -> None:
        """``rules`` says which model each camera tracks; ``trackers``: each camera's tracker spec
        (a camera with track rules and no spec gets the defaults)."""
        self._rules = rules
        self._tracker_specs = dict(trackers)
        self._trackers: dict[str, Tracker] = {}
        self._show = show
        self._observe = observe
        self._clock = clock
        self._failing_health_s = failing_health_s
        self._failing_lock = threading.Lock()
        self._failing: dict[tuple[str, str], tuple[float, str]] = {}
        """Per (camera, model) whose latest results failed: (clock time of the first, why the latest
        did)."""
        self._failures_logged: set[tuple[str, str]] = set()
        self._first_track_id: Callable[[str], int] = lambda _camera_id: 1
        self._frames_failed = Counter(
            "edge_gateway_decider_frames_failed",
            "Frame results skipped because they failed before the rules judged them, by camera and "
            "stage: invalid (the tracker refused the input), tracker (the tracker raised; replaced), "
            "show, observe.",
            ["camera", "stage"],
            registry=registry,
        )

    def prepare(self, result: FrameResult) -> FrameResult | None:
        """The result with its camera's tracks, shown and observed; None when it failed (skipped)."""
        stage = "tracker"
        try:
            if result.model.name == self._rules.tracked_model(result.camera_id):
                tracker = self._tracker(result.camera_id)
                try:
                    output = tracker.update(result.captured_at, result.detections)
                except TrackerInputError:
                    stage = "invalid"  # refused before it changed anything: the tracker is intact
                    raise
                except Exception:
                    # Possibly half updated: a fresh tracker, its ids continuing past the old one's.
                    self._trackers[result.camera_id] = Tracker(tracker.spec, first_id=tracker.next_id)
                    raise
                result = replace(result, detections=output.detections, tracks=output.tracks)
                stage = "show"
                if self._show is not None:
                    self._show(result.camera_id, output.detections)
            stage = "observe"
            if self._observe is not None:
                self._observe(result)
        except Exception as exc:
            self._failed((result.camera_id, result.model.name), stage, exc)
            return None
        return result

    def judged(self, key: tuple[str, str]) -> None:
        """The rules judged a result of (camera, model): its failures, if any, are over."""
        if key not in self._failing:
            return
        with self._failing_lock:
            since, why = self._failing.pop(key)
        logger.warning(
            "frames of %s judged again after %.1f s of failures (last: %s)",
            key[1],
            self._clock() - since,
            why,
            extra={"camera": key[0]},
        )

    def problems(self, now: float) -> list[str]:
        """The cameras whose every frame has failed for ``failing_health_s`` or longer."""
        problems = []
        with self._failing_lock:
            failing = sorted(self._failing.items())
        for (camera_id, model), (since, why) in failing:
            if now - since >= self._failing_health_s:
                problems.append(
                    f"camera {camera_id}: every frame of {model} failed for {now - since:.0f} s, "
                    f"skipped unjudged ({why})"
                )
        return problems

    def retune(self, trackers: Mapping[str, TrackerSpec]) -> None:
        """Take a reload's tracker specs (an empty mapping keeps the current ones)."""
        for camera_id, spec in trackers.items():
            tracker = self._trackers.get(camera_id)
            if tracker is None or tracker.spec == spec:
                continue
            if _motion(tracker.spec) == _motion(spec):
                # The tracker reads its other settings afresh on every frame: it keeps its tracks
                # and their ids, so the objects in view keep their open events.
                tracker.spec = spec
            else:
                # Its motion model is built from the spec: a new tracker, its ids continuing past the
                # old one's (the objects in view get new tracks; their old events end as they lapse).
                self._trackers[camera_id] = Tracker(spec, first_id=tracker.next_id)
        self._tracker_specs = dict(trackers) or self._tracker_specs

    def restart(self, camera_id: str) -> None:
        """A fresh tracker for the camera, its ids continuing: its capture clock stepped back, and
        the tracker refuses frames older than its last one."""
        tracker = self._trackers.get(camera_id)
        if tracker is not None:
            self._trackers[camera_id] = Tracker(tracker.spec, first_id=tracker.next_id)

    def continue_tracks(self, first_track_id: Callable[[str], int]) -> None:
        """Before the first frame: per camera, the lowest track id its tracker may give (past the
        ids earlier runs committed)."""
        self._first_track_id = first_track_id

    def _failed(self, key: tuple[str, str], stage: str, exc: Exception) -> None:
        camera_id = key[0]
        self._frames_failed.labels(camera_id, stage).inc()
        why = f"{stage}: {type(exc).__name__}: {exc}"
        with self._failing_lock:
            since = self._failing[key][0] if key in self._failing else self._clock()
            self._failing[key] = (since, why)
        problem = (camera_id, f"{stage}:{type(exc).__name__}")
        if problem not in self._failures_logged:
            self._failures_logged.add(problem)
            logger.error(
                "a frame failed before the rules judged it (%s); skipped. Further %s failures of this "
                "camera are counted in edge_gateway_decider_frames_failed, not logged",
                why,
                problem[1],
                exc_info=exc,
                extra={"camera": camera_id},
            )

    def _tracker(self, camera_id: str) -> Tracker:
        tracker = self._trackers.get(camera_id)
        if tracker is None:
            # Ids continue from the start time in milliseconds, so a restarted gateway never gives
            # out an id it used before (it would need to start more than one track a millisecond),
            # and past the ids earlier runs committed, for a clock set back behind theirs.
            first_id = max(1, round(self._clock() * 1000), self._first_track_id(camera_id))
            tracker = Tracker(self._tracker_specs.get(camera_id, TrackerSpec()), first_id=first_id)
            self._trackers[camera_id] = tracker
        return tracker


def _motion(spec: TrackerSpec) -> tuple[float, float, float]:
    """What a tracker builds its motion model from, once (``Tracker.__init__``)."""
    return (spec.acceleration, spec.measurement_noise, spec.initial_velocity)
