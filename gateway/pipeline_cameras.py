"""The camera half of the pipeline: cameras -> sampler -> motion gate -> detector -> result sink.

One reader thread per camera keeps only its newest frame; one ``camera-sampler`` thread visits each
camera at its ``detect_fps``, takes the newest frame it has not seen, and hands it to the detector
(the batcher and pool behind ``gateway.pipeline``) unless it is one of these, each counted by reason:

``superseded``  replaced by a newer frame before the sampler took it (the reader runs at the camera's
                own rate, the sampler at detect_fps, so most frames of a 25 fps camera end here)
``stale``       older than ``max_frame_age_s`` when sampled (a stalled reader or a slow sampler)
``motion``      the scene is static (motion gating)
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
p50 1.2 s with the per-camera cap alone. ``pipeline.py`` sets max_pending to twice the inference
workers (one running, one waiting each). Cameras start spread over their sampling interval, so
cameras with one detect_fps never all fall due in the same tick, where a cap below their number
would turn frames away as ``busy`` while the model has capacity to spare.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.config import CameraConfig, GatewayConfig
from gateway.domain import CameraState, CameraStatus, Detection, DetectOutput, Frame, FrameResult
from gateway.errors import DeadlineExceededError, GatewayError, OverloadedError
from gateway.ingest.camera import Camera
from gateway.ingest.counters import RateMeter
from gateway.ingest.motion import MotionGate
from gateway.ingest.snapshot import draw_snapshot
from gateway.ingest.sources import SourceFactory, source_factory

logger = logging.getLogger(__name__)

Detector = Callable[[str, Frame, "float | None"], "Future[DetectOutput]"]
"""(model reference "name" or "name:version", frame, deadline) -> future; raises OverloadedError."""
ResultSink = Callable[[Frame, FrameResult], None]
StateListener = Callable[[str, CameraState, CameraState], None]
"""(camera id, previous state, new state); called on the thread that made the move."""

STOP_TIMEOUT_S = 5.0
SAMPLER_SILENCE_S = 10.0
"""The sampler loops at least every 0.5 s; this much silence means it is wedged."""
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0)


@dataclass(slots=True)
class _CameraRuntime:
    """Per-camera pipeline state; mutable, touched by the sampler and the detector's callbacks."""

    camera: Camera
    config: CameraConfig
    models: tuple[str, ...]
    gate: MotionGate
    interval_s: float
    next_due: float = 0.0
    in_flight: int = 0
    processed: int = 0
    rate_processed: RateMeter = field(default_factory=RateMeter)
    detections: tuple[Detection, ...] = ()
    last_failure: str | None = None
    seen_reconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class CameraPipeline:
    """Implements ``gateway.api.ports.CameraDirectory`` for the API."""

    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        detector: Detector,
        sink: ResultSink,
        registry: CollectorRegistry,
        *,
        open_source: Callable[[CameraConfig], SourceFactory] = source_factory,
        max_in_flight: int = 2,
        max_pending: int | None = None,
        state_listener: StateListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if max_pending is not None and max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._detector = detector
        self._sink = sink
        self._max_in_flight = max_in_flight
        self._max_pending = max_pending
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._state_listener = state_listener
        self._clock = clock
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self._sampler_beat = clock()
        self._running = False
        self._runtimes: dict[str, _CameraRuntime] = {}
        for config in cameras:
            camera = Camera(config, open_source(config), on_state=self._state_hook(config.id), clock=clock)
            models = tuple(
                ref for ref in (config.model, config.anomaly.model if config.anomaly else None) if ref
            )
            self._runtimes[config.id] = _CameraRuntime(
                camera, config, models, MotionGate(config.motion), 1.0 / config.detect_fps
            )
        self._latency = Histogram(
            "edge_gateway_camera_latency_seconds",
            "Capture-to-result latency of processed camera frames.",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        registry.register(_CameraCollector(self))

    @classmethod
    def from_config(
        cls, config: GatewayConfig, detector: Detector, sink: ResultSink, registry: CollectorRegistry
    ) -> CameraPipeline:
        return cls(config.cameras, detector, sink, registry)

    def _state_hook(self, camera_id: str) -> Callable[[CameraState, CameraState], None]:
        def changed(previous: CameraState, current: CameraState) -> None:
            logger.info("camera %s -> %s", previous.value, current.value, extra={"camera": camera_id})
            if self._state_listener is not None:
                self._state_listener(camera_id, previous, current)

        return changed

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._sampler is not None:
            raise RuntimeError("camera pipeline already started")
        self._running = True
        now = self._clock()
        for index, runtime in enumerate(self._runtimes.values()):
            # Spread the cameras over their sampling interval: cameras with one detect_fps would
            # otherwise be due in the same tick for as long as they run, a burst every interval
            # that a max_pending cap would turn away as busy while the model sits idle in between.
            runtime.next_due = now + runtime.interval_s * index / len(self._runtimes)
            if runtime.config.enabled:
                runtime.camera.start()
        self._sampler = threading.Thread(target=self._sample_loop, name="camera-sampler", daemon=True)
        self._sampler.start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop every thread; True when all ended within ``timeout_s``."""
        self._running = False
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for runtime in self._runtimes.values():
            runtime.camera.request_stop()
        ended = True
        if self._sampler is not None:
            self._sampler.join(max(0.0, deadline - time.monotonic()))
            ended = not self._sampler.is_alive()
        for runtime in self._runtimes.values():
            if not runtime.camera.stop(max(0.0, deadline - time.monotonic())):
                logger.error("camera reader did not stop in time", extra={"camera": runtime.config.id})
                ended = False
        return ended

    def stuck(self, max_silence_s: float = SAMPLER_SILENCE_S) -> list[str]:
        """Dead reader threads or a silent sampler: what the systemd watchdog must not ping through.
        A hung camera is not among them; its reader notices the stall and reconnects on its own."""
        if not self._running:
            return []
        problems = [
            f"camera-{runtime.config.id} reader died"
            for runtime in self._runtimes.values()
            if runtime.config.enabled and not runtime.camera.reader_alive
        ]
        if self._sampler is None or not self._sampler.is_alive():
            problems.append("camera-sampler died")
        elif self._clock() - self._sampler_beat > max_silence_s:
            problems.append(f"camera-sampler silent for {self._clock() - self._sampler_beat:.0f} s")
        return problems

    # ---- sampling --------------------------------------------------------------------------------

    def _sample_loop(self) -> None:
        runtimes = [runtime for runtime in self._runtimes.values() if runtime.config.enabled]
        turn = 0
        while not self._stop.is_set():
            now = self._clock()
            self._sampler_beat = now
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
                self._stop.wait(1.0)
                continue
            wait = min(runtime.next_due for runtime in runtimes) - self._clock()
            self._stop.wait(min(max(wait, 0.0005), 0.5))

    def _sample(self, runtime: _CameraRuntime, now: float) -> None:
        camera, config = runtime.camera, runtime.config
        frame = camera.take_newest()
        if frame is None:
            return
        if now - frame.monotonic_at > config.max_frame_age_s:
            camera.drops.add("stale")
            return
        if camera.reconnects != runtime.seen_reconnects:
            # After a reconnect the view may have moved: compare against the new scene, not the old.
            runtime.seen_reconnects = camera.reconnects
            runtime.gate.reset()
        if not runtime.gate.check(frame.image, now).run_model:
            camera.drops.add("motion")
            return
        with runtime.lock:
            camera_full = runtime.in_flight >= self._max_in_flight * len(runtime.models)
        with self._pending_lock:
            all_full = (
                self._max_pending is not None and self._pending + len(runtime.models) > self._max_pending
            )
        if camera_full or all_full:
            camera.drops.add("busy")
            return
        deadline = frame.monotonic_at + config.max_frame_age_s
        for model in runtime.models:
            try:
                future = self._detector(model, frame, deadline)
            except OverloadedError:
                camera.drops.add("overloaded")
                continue
            except GatewayError as exc:
                camera.drops.add("error")
                self._log_once(runtime, model, f"detector refused a frame: {exc}")
                continue
            with runtime.lock:
                runtime.in_flight += 1
            with self._pending_lock:
                self._pending += 1
            future.add_done_callback(functools.partial(self._completed, runtime, frame, model))

    def _completed(
        self, runtime: _CameraRuntime, frame: Frame, model: str, future: Future[DetectOutput]
    ) -> None:
        with runtime.lock:
            runtime.in_flight -= 1
        with self._pending_lock:
            self._pending -= 1
        camera = runtime.camera
        try:
            output = future.result()
        except DeadlineExceededError:
            camera.drops.add("deadline")
            return
        except OverloadedError:
            camera.drops.add("overloaded")
            return
        except CancelledError:
            camera.drops.add("cancelled")
            return
        except Exception as exc:
            camera.drops.add("error")
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
        if model == runtime.models[0]:
            with runtime.lock:
                runtime.last_failure = None
                runtime.processed += 1
                runtime.detections = output.detections
            runtime.rate_processed.mark(completed)
            self._latency.labels(runtime.config.id).observe(completed - frame.monotonic_at)
        if not self._running:
            return
        try:
            self._sink(frame, result)
        except Exception:
            logger.exception("result sink failed", extra={"camera": runtime.config.id})

    def _log_once(self, runtime: _CameraRuntime, model: str, message: str) -> None:
        """Log a detector failure when it changes, not once per frame (a missing model would flood)."""
        with runtime.lock:
            if runtime.last_failure == message:
                return
            runtime.last_failure = message
        logger.warning(
            "%s (repeats are counted, not logged)",
            message,
            extra={"camera": runtime.config.id, "model": model},
        )

    # ---- CameraDirectory -------------------------------------------------------------------------

    def cameras(self) -> Sequence[CameraStatus]:
        return [self._status(runtime) for runtime in self._runtimes.values()]

    def camera(self, camera_id: str) -> CameraStatus | None:
        runtime = self._runtimes.get(camera_id)
        return self._status(runtime) if runtime is not None else None

    def snapshot_jpeg(self, camera_id: str) -> bytes | None:
        runtime = self._runtimes.get(camera_id)
        frame = runtime.camera.peek_newest() if runtime is not None else None
        if runtime is None or frame is None:
            return None
        return draw_snapshot(frame.image, runtime.detections, runtime.config.zones)

    def processed(self, camera_id: str) -> int:
        """Frames of this camera with a result from its first model, since start."""
        return self._runtimes[camera_id].processed

    def frames_in(self, camera_id: str) -> int:
        """Frames decoded from this camera since start."""
        return self._runtimes[camera_id].camera.frames_in

    def _status(self, runtime: _CameraRuntime) -> CameraStatus:
        camera = runtime.camera
        return CameraStatus(
            camera_id=runtime.config.id,
            url=camera.display_url,
            state=camera.state,
            fps_in=camera.fps_in(),
            fps_processed=runtime.rate_processed.rate(self._clock()),
            drops=camera.drops.snapshot(),
            reconnects=camera.reconnects,
            last_error=camera.last_error,
            last_frame_at=camera.last_frame_at(),
        )

    def _runtimes_view(self) -> Iterable[_CameraRuntime]:
        return list(self._runtimes.values())


class _CameraCollector(Collector):
    """Per-camera counters read at scrape time, so the frame path pays nothing for metrics."""

    def __init__(self, pipeline: CameraPipeline) -> None:
        self._pipeline = pipeline

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        frames_in = CounterMetricFamily(
            "edge_gateway_camera_frames", "Frames decoded from the camera.", labels=["camera"]
        )
        processed = CounterMetricFamily(
            "edge_gateway_camera_frames_processed", "Frames with a detector result.", labels=["camera"]
        )
        dropped = CounterMetricFamily(
            "edge_gateway_camera_frames_dropped", "Frames dropped, by reason.", labels=["camera", "reason"]
        )
        reconnects = CounterMetricFamily(
            "edge_gateway_camera_reconnects", "Reopen attempts after the first open.", labels=["camera"]
        )
        stalls = CounterMetricFamily(
            "edge_gateway_camera_stalls", "Times the watchdog found a silent stream.", labels=["camera"]
        )
        state = GaugeMetricFamily(
            "edge_gateway_camera_state", "1 for the camera's current state.", labels=["camera", "state"]
        )
        for runtime in self._pipeline._runtimes_view():
            camera_id = runtime.config.id
            camera = runtime.camera
            frames_in.add_metric([camera_id], camera.frames_in)
            processed.add_metric([camera_id], runtime.processed)
            for reason, count in sorted(camera.drops.snapshot().items()):
                dropped.add_metric([camera_id, reason], count)
            reconnects.add_metric([camera_id], camera.reconnects)
            stalls.add_metric([camera_id], camera.stalls)
            current = camera.state
            for value in CameraState:
                state.add_metric([camera_id, value.value], 1.0 if value is current else 0.0)
        return [frames_in, processed, dropped, reconnects, stalls, state]
