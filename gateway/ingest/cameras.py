"""The cameras of a gateway as one directory: their readers, the sampler that feeds the detector, and
what the API and health checks ask of them (status, snapshot, stuck threads, failing cameras).

``CameraPipeline`` implements ``gateway.api.ports.CameraDirectory``. Sampling itself is
``gateway.ingest.sampler``; metrics are ``gateway.ingest.camera_metrics``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from gateway.config import CameraConfig
from gateway.domain import CameraState, CameraStatus, Detection
from gateway.ingest.camera import Camera
from gateway.ingest.camera_metrics import CameraCollector, latency_histogram
from gateway.ingest.sampler import CameraRuntime, Detector, ResultSink, Sampler
from gateway.ingest.snapshot import draw_snapshot
from gateway.ingest.sources import SourceFactory, source_factory

logger = logging.getLogger(__name__)

StateListener = Callable[[str, CameraState, CameraState], None]
"""(camera id, previous state, new state); called on the thread that made the move."""

STOP_TIMEOUT_S = 5.0
SAMPLER_SILENCE_S = 10.0
"""The sampler loops at least every 0.5 s; this much silence means it is wedged."""


class CameraPipeline:
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
        capture_clock: Callable[[str], Callable[[], float]] | None = None,
    ) -> None:
        self._state_listener = state_listener
        self.max_pending = max_pending
        """Frames all cameras together may have at the models (None: no bound but each camera's)."""
        self._clock = clock
        self._running = False
        self._state_lock = threading.Lock()
        self._state_since: dict[str, float] = {}
        self._runtimes: dict[str, CameraRuntime] = {}
        for config in cameras:
            camera = Camera(
                config,
                open_source(config),
                on_state=self._state_hook(config.id),
                clock=clock,
                # The time each frame is stamped as captured: the wall clock, but where a benchmark
                # plays clips on their own clock.
                wall_clock=time.time if capture_clock is None else capture_clock(config.id),
            )
            self._runtimes[config.id] = CameraRuntime.for_camera(camera, config)
            self._state_since[config.id] = clock()
        self._sampler = Sampler(
            list(self._runtimes.values()),
            detector,
            sink,
            latency_histogram(registry),
            max_in_flight=max_in_flight,
            max_pending=max_pending,
            clock=clock,
        )
        registry.register(CameraCollector(lambda: list(self._runtimes.values())))

    def _state_hook(self, camera_id: str) -> Callable[[CameraState, CameraState], None]:
        def changed(previous: CameraState, current: CameraState) -> None:
            logger.info("camera %s -> %s", previous.value, current.value, extra={"camera": camera_id})
            with self._state_lock:
                self._state_since[camera_id] = self._clock()
            if self._state_listener is not None:
                self._state_listener(camera_id, previous, current)

        return changed

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._running:
            raise RuntimeError("camera pipeline already started")
        self._running = True
        for runtime in self._runtimes.values():
            if runtime.config.enabled:
                runtime.camera.start()
        self._sampler.start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop every thread; True when all ended within ``timeout_s``."""
        self._running = False
        self._sampler.request_stop()
        deadline = time.monotonic() + timeout_s
        for runtime in self._runtimes.values():
            runtime.camera.request_stop()
        ended = self._sampler.join(max(0.0, deadline - time.monotonic()))
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
        if not self._sampler.alive:
            problems.append("camera-sampler died")
        elif self._clock() - self._sampler.beat > max_silence_s:
            problems.append(f"camera-sampler silent for {self._clock() - self._sampler.beat:.0f} s")
        return problems

    def degraded(self, grace_s: float) -> list[str]:
        """Enabled cameras that have not been streaming for longer than ``grace_s``, that stalled
        within it only because their frames come too slowly for their timeouts, or whose frames
        one of its models has failed for that long (a model not loaded, not enrolled yet): a degraded
        gateway (``/v1/status``), though not a wedged one (the readers keep retrying on their own,
        and a model that appears in the repository is used from its next frame)."""
        if not self._running:
            return []
        now = self._clock()
        problems = []
        for camera_id, runtime in self._runtimes.items():
            camera = runtime.camera
            with self._state_lock:
                since = self._state_since[camera_id]
            if not runtime.config.enabled:
                continue
            if camera.state is not CameraState.STREAMING and now - since > grace_s:
                reason = f": {camera.last_error}" if camera.last_error else ""
                problems.append(f"camera {camera_id} {camera.state.value} for {now - since:.0f} s{reason}")
                continue
            slow = camera.slow_stream()
            if slow is not None and now - slow[1] <= grace_s:
                # A stream too slow for its timeouts flaps between streaming and stalled, so it is
                # never down for long: named at once, with the fix, until it has not stalled for
                # grace_s (its last_error above carries the same words while it stays down).
                problems.append(f"camera {camera_id}: {slow[0]}")
        for camera_id, runtime in self._runtimes.items():
            with runtime.lock:
                failures = list(runtime.failures.items())
            problems += [
                f"camera {camera_id}: model {model} failing for {now - failing_since:.0f} s: {message}"
                for model, (message, failing_since) in failures
                if runtime.config.enabled and now - failing_since > grace_s
            ]
        return problems

    # ---- CameraDirectory -------------------------------------------------------------------------

    def cameras(self) -> Sequence[CameraStatus]:
        return [self._status(runtime) for runtime in self._runtimes.values()]

    def camera(self, camera_id: str) -> CameraStatus | None:
        runtime = self._runtimes.get(camera_id)
        return self._status(runtime) if runtime is not None else None

    def snapshot_jpeg(
        self, camera_id: str, *, motion: bool = False, longest_side: int | None = None
    ) -> bytes | None:
        runtime = self._runtimes.get(camera_id)
        frame = runtime.camera.peek_newest() if runtime is not None else None
        if runtime is None or frame is None:
            return None
        with runtime.lock:
            detections, config = runtime.detections, runtime.config
            paths = runtime.trails.paths(detections)
        # With gating off a mask hides nothing: not shaded, as if it did.
        mask = config.motion.mask if config.motion.enabled else ()
        changed = runtime.gate.last_changed_pixels if motion else None
        return draw_snapshot(
            frame.image,
            detections,
            config.zones,
            config.lines,
            motion_mask=mask,
            paths=paths,
            motion=changed,
            longest_side=longest_side,
        )

    def show(self, camera_id: str, detections: tuple[Detection, ...]) -> None:
        """What the snapshot draws for a camera from now on (the decider's tracked detections, each
        tracked one with its path)."""
        runtime = self._runtimes.get(camera_id)
        if runtime is not None:
            with runtime.lock:
                runtime.detections = detections
                runtime.trails.add(detections)

    def apply_reload(self, cameras: Sequence[CameraConfig]) -> None:
        """A reload's camera configs in force (``camera_changes.plan_reload``: their restart-only
        keys as started): the snapshot draws their zones, lines and motion mask, and the sampler
        follows their rules and mask. It kept the rules it started with: a camera whose rules a
        reload removed kept its last tracked boxes in the live view (no tracker ran, and the sampler
        left the boxes to it), and a still object of a label a reload began to follow was gated
        until its event ended. The cameras are listed in their order (a reload that reorders the
        file reorders ``cameras()``, and the console's tiles), any not among them after."""
        for config in cameras:
            runtime = self._runtimes.get(config.id)
            if runtime is None:
                continue
            with runtime.lock:
                if config.rules != runtime.config.rules:
                    # Whether the new rules follow what is in view is for a result to say: the next
                    # frame due on a still scene goes to the models as if they did.
                    runtime.followed_present = True
                runtime.config = config
        order = {config.id: place for place, config in enumerate(cameras)}
        # A new dict, not the old one reordered in place: other threads iterate the one they read.
        self._runtimes = dict(sorted(self._runtimes.items(), key=lambda item: order.get(item[0], len(order))))

    def processed(self, camera_id: str) -> int:
        """Frames of this camera with a result from its first model, since start."""
        return self._runtimes[camera_id].processed

    def frames_in(self, camera_id: str) -> int:
        """Frames decoded from this camera since start."""
        return self._runtimes[camera_id].camera.frames_in

    def _status(self, runtime: CameraRuntime) -> CameraStatus:
        camera, motion = runtime.camera, runtime.gate.config
        with runtime.lock:
            failures = "; ".join(message for message, _ in runtime.failures.values())
        return CameraStatus(
            camera_id=runtime.config.id,
            url=camera.display_url,
            state=camera.state,
            fps_in=camera.fps_in(),
            fps_processed=runtime.rate_processed.rate(self._clock()),
            drops=camera.drops.snapshot(),
            reconnects=camera.reconnects,
            # The reader's own error first; else why its frames fail at a model (one not loaded).
            last_error=camera.last_error or failures or None,
            last_frame_at=camera.last_frame_at(),
            detections=runtime.detections,
            motion_changed=runtime.gate.last_changed,
            motion_min_area=motion.min_area if motion.enabled else None,
        )
