"""The one place that wires the parts together from config: cameras -> inference -> rules -> outbox
-> MQTT, with the HTTP API reading from them through its ports.

Threads: camera readers and the sampler (ingest), the batcher's workers (inference), one
``alert-decider`` that runs the rules and commits alerts, and the MQTT publisher. Results reach the
decider through a bounded queue so an fsync never stalls an inference worker; a result that finds
the queue full is dropped and counted (``edge_gateway_pipeline_results_dropped_total``), which at
the default capacity means the outbox has been unable to commit for thousands of frames.

Shutdown order follows the data: stop taking frames, let inference finish or expire what it holds,
drain the decider so every decided alert is committed, then flush MQTT (``offline`` last) and close
the outbox.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TextIO

from prometheus_client import CollectorRegistry, Counter

from gateway.config import GatewayConfig
from gateway.delivery.alert_codec import encode_alert
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.domain import (
    Alert,
    AlertEvent,
    CameraState,
    DeliveryState,
    DeliveryStatus,
    DetectOutput,
    Frame,
    FrameResult,
    ModelState,
    SceneChange,
)
from gateway.inference.service import InferenceService
from gateway.pipeline_cameras import CameraPipeline
from gateway.rules.engine import RuleEngine

logger = logging.getLogger(__name__)

DECIDE_QUEUE_CAPACITY = 4096
TICK_S = 1.0
"""How often events are allowed to end without new frames (motion gating may stop results)."""
STOP_TIMEOUT_S = 5.0


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        registry: CollectorRegistry | None = None,
        alert_echo: TextIO | None = None,
    ) -> None:
        """``alert_echo``: a stream that also receives every committed alert as one JSON line."""
        self.config = config
        self.registry = registry if registry is not None else CollectorRegistry()
        self._alert_echo = alert_echo
        self.inference = InferenceService.from_config(config, self.registry)
        self.outbox = Outbox.from_config(config, self.registry)
        self.publisher = (
            MqttPublisher(config.mqtt, config.device_id, self.outbox, self.registry)
            if config.mqtt is not None
            else None
        )
        self._rules_lock = threading.Lock()
        self._rules = RuleEngine.from_config(config)
        self.cameras = CameraPipeline(
            config.cameras,
            self._detect,
            self._on_result,
            self.registry,
            # Enough to keep every worker busy while the next frames wait; each frame beyond that only
            # adds capture-to-result latency (bench/results/cameras.md).
            max_pending=2 * self.inference.pool.workers,
            state_listener=self._on_camera_state,
        )
        self._results: queue.Queue[FrameResult | None] = queue.Queue(DECIDE_QUEUE_CAPACITY)
        self._decider = threading.Thread(target=self._decide_loop, name="alert-decider", daemon=True)
        self._dropped = Counter(
            "edge_gateway_pipeline_results_dropped_total",
            "Frame results dropped before the rules because the decider queue was full.",
            registry=self.registry,
        )
        self._alerts = Counter(
            "edge_gateway_alerts_total",
            "Alerts committed to the outbox.",
            ["camera", "kind"],
            registry=self.registry,
        )
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Load and warm every model, open delivery, then start the cameras. Blocks until ready."""
        self.inference.start()
        self._decider.start()
        if self.publisher is not None:
            self.publisher.start()
        self.cameras.start()
        self._started = True
        logger.info(
            "gateway %s running: %d cameras, %d models ready",
            self.config.device_id,
            len(self.config.cameras),
            self._ready_models(),
        )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop in data order; every decided alert is committed before the outbox closes."""
        deadline = time.monotonic() + timeout_s
        self._started = False
        if not self.cameras.stop(max(0.5, deadline - time.monotonic())):
            logger.error("camera threads did not stop in time")
        self.inference.stop()
        if self._decider.is_alive():
            self._results.put(None)
            self._decider.join(max(0.5, deadline - time.monotonic()))
        if self.publisher is not None:
            self.publisher.stop(max(0.5, deadline - time.monotonic()))
        self.outbox.close()

    def reload(self, config: GatewayConfig) -> None:
        """SIGHUP: models re-scanned now, rules replaced; cameras keep streaming. A camera's source or
        model change needs a restart, which is logged rather than half-applied."""
        self.inference.repository.poll()
        changed_sources = [
            new.id
            for new in config.cameras
            for old in self.config.cameras
            if new.id == old.id
            and (new.url, new.model, new.detect_fps) != (old.url, old.model, old.detect_fps)
        ]
        added = {camera.id for camera in config.cameras} ^ {camera.id for camera in self.config.cameras}
        if changed_sources or added:
            logger.warning(
                "camera set or sources changed (%s): restart the service to apply",
                ", ".join(sorted(set(changed_sources) | added)),
            )
        with self._rules_lock:
            self._rules = RuleEngine(config.cameras)
        self.config = config
        logger.info("reloaded: models re-scanned, rules replaced")

    def health_problems(self) -> list[str]:
        """Empty while every part makes progress; the systemd watchdog pings only then."""
        problems = self.inference.pool.stuck(self.config.inference.stuck_after_s)
        if self._started and not self._decider.is_alive():
            problems.append("alert-decider died")
        problems += self.cameras.stuck()
        return problems

    def summary(self) -> str:
        """One line for systemd's STATUS=."""
        cameras = self.cameras.cameras()
        streaming = sum(1 for camera in cameras if camera.state is CameraState.STREAMING)
        status = self.delivery_status()
        delivery = (
            "outbox only"
            if status.broker is None
            else f"mqtt {status.state.value}, {status.last_seq - (status.last_acked_seq or 0)} unacked"
        )
        return (
            f"{streaming}/{len(cameras)} cameras streaming, {self._ready_models()} models ready, "
            f"alerts up to seq {status.last_seq} ({delivery})"
        )

    def _ready_models(self) -> int:
        return sum(1 for status in self.inference.models() if status.state is ModelState.READY)

    def scene_changes(self) -> list[SceneChange]:
        """Cameras whose scene changed for good since enrollment (for /v1/status)."""
        with self._rules_lock:
            return self._rules.scene_changes()

    def delivery_status(self) -> DeliveryStatus:
        if self.publisher is None:
            return DeliveryStatus(DeliveryState.OUTBOX_ONLY, None, None, None, self.outbox.last_seq, None, 0)
        return self.publisher.status()

    # -- data path ---------------------------------------------------------------------------------

    def _detect(self, reference: str, frame: Frame, deadline: float | None) -> Future[DetectOutput]:
        return self.inference.submit_frame(reference, frame.image, deadline)

    def _on_result(self, frame: Frame, result: FrameResult) -> None:
        try:
            self._results.put_nowait(result)
        except queue.Full:
            self._dropped.inc()
            logger.warning("decider queue full: result dropped", extra={"camera": result.camera_id})

    def _on_camera_state(self, camera_id: str, previous: CameraState, current: CameraState) -> None:
        if self.publisher is not None:
            status = self.cameras.camera(camera_id)
            self.publisher.publish_camera_state(camera_id, current.value, status.fps_in if status else 0.0)

    def _decide_loop(self) -> None:
        next_tick = time.monotonic() + TICK_S
        while True:
            try:
                result = self._results.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                pass
            else:
                if result is None:  # the stop sentinel: queued behind every result there is
                    return
                with self._rules_lock:
                    events = self._rules.process(result)
                self._commit(events)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + TICK_S
                with self._rules_lock:
                    events = self._rules.tick(time.time())
                self._commit(events)

    def _commit(self, events: Sequence[AlertEvent]) -> None:
        if not events:
            return
        try:
            alerts = self.outbox.append_many(events)
        except Exception:
            # The outbox raises only when the disk refuses the commit; the events are logged whole so
            # an operator can still see them, and the decider keeps running for the next ones.
            logger.exception("outbox commit failed for %d alerts: %s", len(events), events)
            return
        for alert in alerts:
            self._announce(alert)

    def _announce(self, alert: Alert) -> None:
        event = alert.event
        self._alerts.labels(event.camera_id, event.kind.value).inc()
        logger.info(
            "alert %s %s rule=%s label=%s score=%.2f",
            alert.alert_id,
            event.kind.value,
            event.rule,
            event.label,
            event.score,
            extra={"camera": event.camera_id, "model": str(event.model)},
        )
        if self._alert_echo is not None:
            self._alert_echo.write(encode_alert(alert).decode("utf-8") + "\n")
            self._alert_echo.flush()
