"""The camera sampler: cameras -> motion gate -> detector -> result sink, at each camera's detect_fps.

One reader thread per camera keeps only its newest frame; one ``camera-sampler`` thread visits each
camera at its ``detect_fps``, takes the newest frame it has not seen, and hands it to the detector
(the batcher and pool behind ``gateway.pipeline``) unless it is dropped for one of the reasons of
``DropReason``, each counted:

``superseded``  replaced by a newer frame before the sampler took it (the reader runs at the camera's
                own rate, the sampler at detect_fps, so most frames of a 25 fps camera end here)
``stale``       older than ``max_frame_age_s`` when sampled (a stalled reader or a slow sampler)
``motion``      the scene is static (motion gating); while the latest result held an object one of
                the camera's rules follows, or an anomaly, one frame in each ``keepalive_s`` still
                goes to the models, so what stopped moving keeps its track and its open event
``busy``        the camera already has ``max_in_flight`` frames at the detector, or all cameras
                together have ``max_pending``: rather than queue behind them, the newest frame
                wins the next turn, so latency stays bounded
``overloaded``  the detector refused it (its queue is full)
``deadline``    it expired in the detector's queue (the deadline is capture time + max_frame_age_s)
``error``       the detector failed on it (logged)

Under overload the ``busy`` rule bounds the frames waiting at the detector to
min(cameras x max_in_flight, max_pending), and capture-to-result latency to about that many model
runs (and never past ``max_frame_age_s``, the deadline). bench/cameras.py, 3x overload, 4 cameras
on 2 CPU cores shared with other jobs (face-detector): the per-camera cap alone gave p50/p99
248/826 ms, ``max_pending=4`` 153/431 ms at about the same throughput; 18 RTSP cameras at 3x:
p50 1.2 s with the per-camera cap alone. ``gateway.pipeline`` sets max_pending to twice the
inference workers (one running, one waiting each). Cameras start spread over their sampling
interval, so cameras with one detect_fps never all fall due in the same tick, where a cap below
their number would turn frames away as ``busy`` while the model has capacity to spare.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import Histogram

from gateway.config import CameraConfig
from gateway.domain import Detection, DetectOutput, DropReason, Frame, FrameResult, ModelReference, box_area
from gateway.errors import DeadlineExceededError, GatewayError, OverloadedError
from gateway.ingest.camera import Camera
from gateway.ingest.counters import RateMeter
from gateway.ingest.motion import MotionGate
from gateway.ingest.trails import Trails
from gateway.positions import bottom_centre, point_in_polygon

logger = logging.getLogger(__name__)

Detector = Callable[[ModelReference, Frame, "float | None"], "Future[DetectOutput]"]
"""(model, frame, deadline) -> future; raises OverloadedError when the detector is full."""
ResultSink = Callable[[Frame, FrameResult], "bool | None"]
"""Takes each result with its frame; False when an anomaly result is not scored (its frame does not
match what the model was enrolled on: a night infrared picture for a colour enrollment), so its map
says nothing about the scene and does not hold the camera anomalous."""


@dataclass(slots=True)
class CameraRuntime:
    """Per-camera sampling state; mutable, touched by the sampler and the detector's callbacks."""

    camera: Camera
    config: CameraConfig
    models: tuple[ModelReference, ...]
    """The detector first (its results count as processed), then the anomaly model."""
    gate: MotionGate
    interval_s: float
    next_due: float = 0.0
    in_flight: int = 0
    processed: int = 0
    rate_processed: RateMeter = field(default_factory=RateMeter)
    detections: tuple[Detection, ...] = ()
    trails: Trails = field(default_factory=Trails)
    """The recent paths of the objects in ``detections``, which the live view draws."""
    failures: dict[ModelReference, tuple[str, float]] = field(default_factory=dict)
    """Each model's last failure on this camera's frames and since when it has been failing (the
    sampler's clock), until one of its frames succeeds."""
    seen_reconnects: int = 0
    followed_present: bool = False
    """The detector's latest result held an object one of the camera's rules follows."""
    anomalous: bool = False
    """The anomaly model's latest scored map had a cell at or above its threshold (a map the result
    sink did not score says nothing)."""
    last_run_at: float | None = None
    """When the sampler last sent a frame of this camera to the models (its clock)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_camera(cls, camera: Camera, config: CameraConfig) -> CameraRuntime:
        models = tuple(ref for ref in (config.model, config.anomaly.model if config.anomaly else None) if ref)
        return cls(camera, config, models, MotionGate(config.motion), 1.0 / config.detect_fps)

    @property
    def keepalive_s(self) -> float:
        """Longest gap between the frames a still, followed object (or a still anomaly) is seen on:
        a quarter of the shortest ``end_after_s`` (its event rides out three missed detections) and
        half of the tracker's ``max_lost_s`` (its track rides out one), never under the sampling
        interval. Gating every frame once the scene stood still for ``hold_s`` ended a presence or
        loiter event as ``cleared`` while its object stood there, a stationary rule never started,
        and a left object's anomaly event ended before it could become the new normal."""
        anomaly = self.config.anomaly
        timings = [*self.config.rules, *([anomaly] if anomaly is not None else [])]
        end_after_s = min(timing.end_after_s for timing in timings)
        return max(self.interval_s, min(end_after_s / 4.0, self.config.tracker.max_lost_s / 2.0))

    def follows_any(self, detections: Sequence[Detection]) -> bool:
        """Whether one of ``detections`` is an object one of the camera's rules may follow: one on a
        zone the rule excludes (a poster taken for a person) would have kept a still scene's model
        running at the keepalive rate for good, for a rule that never matches there."""
        outlines = {zone.name: zone.polygon for zone in self.config.zones}
        return any(
            detection.score >= rule.min_score
            and (not rule.labels or detection.label in rule.labels)
            # A frame-level detection (no box) stands for the whole frame.
            and rule.min_box_area
            <= (1.0 if detection.box is None else box_area(detection.box))
            <= rule.max_box_area
            and not (
                detection.box is not None
                and any(
                    point_in_polygon(bottom_centre(detection.box), outlines[name])
                    for name in rule.exclude_zones
                )
            )
            for detection in detections
            for rule in self.config.rules
        )


class Sampler:
    """The ``camera-sampler`` thread and the completion callbacks of the frames it submits."""

    def __init__(
        self,
        runtimes: Sequence[CameraRuntime],
        detector: Detector,
        sink: ResultSink,
        latency: Histogram,
        *,
        max_in_flight: int,
        max_pending: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if max_pending is not None and max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._runtimes = list(runtimes)
        self._detector = detector
        self._sink = sink
        self._latency = latency
        self._max_in_flight = max_in_flight
        self._max_pending = max_pending
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._clock = clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.beat = clock()
        """When the loop last ran (the sampler's own heartbeat)."""

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("camera sampler already started")
        now = self._clock()
        for index, runtime in enumerate(self._runtimes):
            # Spread the cameras over their sampling interval: cameras with one detect_fps would
            # otherwise be due in the same tick for as long as they run, a burst every interval
            # that a max_pending cap would turn away as busy while the model sits idle in between.
            runtime.next_due = now + runtime.interval_s * index / len(self._runtimes)
        self.beat = now
        self._thread = threading.Thread(target=self._sample_loop, name="camera-sampler", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stopping.set()

    def join(self, timeout_s: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.alive

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _sample_loop(self) -> None:
        runtimes = [runtime for runtime in self._runtimes if runtime.config.enabled]
        turn = 0
        while not self._stopping.is_set():
            now = self._clock()
            self.beat = now
            # Rotate who goes first, so under max_pending no camera always wins the free slot.
            turn = (turn + 1) % max(1, len(runtimes))
            for runtime in runtimes[turn:] + runtimes[:turn]:
                runtime.camera.check_stalled()
                if now >= runtime.next_due:
                    # Falling behind resets the schedule instead of sampling in a burst to catch up.
                    runtime.next_due = max(runtime.next_due + runtime.interval_s, now)
                    if runtime.models:
                        self._sample(runtime, now)
                        runtime.camera.expect_sample_at(runtime.next_due)
            if not runtimes:
                self._stopping.wait(1.0)
                continue
            wait = min(runtime.next_due for runtime in runtimes) - self._clock()
            self._stopping.wait(min(max(wait, 0.0005), 0.5))

    def _sample(self, runtime: CameraRuntime, now: float) -> None:
        camera, config = runtime.camera, runtime.config
        frame = camera.take_newest()
        if frame is None:
            return
        if now - frame.monotonic_at > config.max_frame_age_s:
            camera.drops.add(DropReason.STALE)
            return
        if camera.reconnects != runtime.seen_reconnects:
            # After a reconnect the view may have moved: compare against the new scene, not the old.
            runtime.seen_reconnects = camera.reconnects
            runtime.gate.reset()
        if runtime.gate.config is not config.motion:
            runtime.gate.respec(config.motion)  # a reload: its mask, on the gate's own thread
        if not runtime.gate.check(frame.image, now).run_model and not self._keeps_alive(runtime, now):
            camera.drops.add(DropReason.MOTION)
            return
        with runtime.lock:
            camera_full = runtime.in_flight >= self._max_in_flight * len(runtime.models)
        with self._pending_lock:
            all_full = (
                self._max_pending is not None and self._pending + len(runtime.models) > self._max_pending
            )
        if camera_full or all_full:
            camera.drops.add(DropReason.BUSY)
            return
        deadline = frame.monotonic_at + config.max_frame_age_s
        for model in runtime.models:
            try:
                future = self._detector(model, frame, deadline)
            except OverloadedError:
                camera.drops.add(DropReason.OVERLOADED)
                continue
            except GatewayError as exc:
                camera.drops.add(DropReason.ERROR)
                self._log_once(runtime, model, f"detector refused a frame: {exc}")
                continue
            with runtime.lock:
                runtime.in_flight += 1
                runtime.last_run_at = now
            with self._pending_lock:
                self._pending += 1
            future.add_done_callback(functools.partial(self._completed, runtime, frame, model))

    @staticmethod
    def _keeps_alive(runtime: CameraRuntime, now: float) -> bool:
        """A frame of a still scene that goes to the models all the same (see ``keepalive_s``)."""
        with runtime.lock:
            held, last_run_at = runtime.followed_present or runtime.anomalous, runtime.last_run_at
        if not held:
            return False
        return last_run_at is None or now - last_run_at >= runtime.keepalive_s - runtime.interval_s / 2.0

    def _completed(
        self, runtime: CameraRuntime, frame: Frame, model: ModelReference, future: Future[DetectOutput]
    ) -> None:
        with runtime.lock:
            runtime.in_flight -= 1
        with self._pending_lock:
            self._pending -= 1
        camera = runtime.camera
        try:
            output = future.result()
        except DeadlineExceededError:
            camera.drops.add(DropReason.DEADLINE)
            return
        except OverloadedError:
            camera.drops.add(DropReason.OVERLOADED)
            return
        except CancelledError:
            camera.drops.add(DropReason.CANCELLED)
            return
        except Exception as exc:
            camera.drops.add(DropReason.ERROR)
            self._log_once(runtime, model, f"inference failed: {exc}")
            return
        completed = self._clock()
        result = FrameResult(
            camera_id=frame.camera_id,
            frame_seq=frame.seq,
            captured_at=frame.captured_at,
            model=output.model,
            detections=output.detections,
            anomaly_score=output.anomaly_score,
            completed_at=completed,
            anomaly_map=output.anomaly_map,
        )
        with runtime.lock:
            runtime.failures.pop(model, None)
        if model == runtime.models[0]:
            with runtime.lock:
                runtime.processed += 1
                runtime.followed_present = runtime.follows_any(output.detections)
                if not runtime.config.rules:
                    # With rules the decider shows the tracked detections (ids drawn) instead.
                    runtime.detections = output.detections
            runtime.rate_processed.mark(completed)
            self._latency.labels(runtime.config.id).observe(completed - frame.monotonic_at)
        scored = self._sink_result(runtime, frame, result)
        anomaly = runtime.config.anomaly
        if anomaly is not None and model == anomaly.model:
            # A map not scored (a grey infrared frame for a colour enrollment is anomalous all over)
            # would keep a still scene's frames going to the models all night.
            anomalous = (
                scored
                and output.anomaly_map is not None
                and bool(np.any(output.anomaly_map.cells >= output.anomaly_map.threshold))
            )
            with runtime.lock:
                runtime.anomalous = anomalous

    def _sink_result(self, runtime: CameraRuntime, frame: Frame, result: FrameResult) -> bool:
        """Hand ``result`` on (not once stopping); False when the sink did not score its anomaly map."""
        if self._stopping.is_set():
            return True
        try:
            return self._sink(frame, result) is not False
        except Exception:
            logger.exception("result sink failed", extra={"camera": runtime.config.id})
            return True

    def _log_once(self, runtime: CameraRuntime, model: ModelReference, message: str) -> None:
        """Log a model's failure when it changes, not once per frame (a missing model would flood),
        each model on its own: a camera's detector succeeding must not let its anomaly model's
        failure be logged again on every frame."""
        with runtime.lock:
            previous = runtime.failures.get(model)
            if previous is not None and previous[0] == message:
                return
            runtime.failures[model] = (message, self._clock() if previous is None else previous[1])
        logger.warning(
            "%s (repeats are counted, not logged)",
            message,
            extra={"camera": runtime.config.id, "model": str(model)},
        )
