"""``Gateway``: the composition root of the device side. Cameras -> inference -> the alert decider
(rules, commit, announce) -> outbox -> MQTT, with the HTTP API reading from them through its ports.

Collaborators are passed in; ``from_config`` builds the real ones, so ``serve``, ``enroll``, the
benchmarks and the tests wire the parts the same way. Threads: camera readers and the sampler
(ingest), the batcher's workers (inference), ``alert-decider`` (``gateway.decider``), the
``evidence-encoder`` (with ``outbox.evidence.enabled``), the outbox writer and the MQTT publisher.

Start order: models load and warm; the decider ends the events a previous run left open before
anything else is decided; delivery opens; then the cameras start. Shutdown follows the data: stop
taking frames, let inference finish or expire what it holds, let the decider judge what is queued
and end its open events, flush MQTT (``offline`` last), close the outbox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import TextIO

from prometheus_client import CollectorRegistry, Gauge

from gateway.api.ports import SystemFacts
from gateway.config import CameraConfig, GatewayConfig
from gateway.decider import AlertDecider
from gateway.delivery.evidence import EvidenceEncoder
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.domain import (
    CameraState,
    DeliveryState,
    DeliveryStatus,
    DetectOutput,
    Frame,
    FrameResult,
    ModelReference,
    ModelState,
    SceneChange,
)
from gateway.enroll import enrolled_format
from gateway.errors import OutboxError
from gateway.inference.service import InferenceService
from gateway.ingest.cameras import CameraPipeline
from gateway.ingest.sources import SourceFactory, source_factory
from gateway.pipeline.alert_announcer import AlertAnnouncer
from gateway.pipeline.camera_changes import plan_reload
from gateway.pipeline.model_names import default_versions, missing_model_problems
from gateway.pipeline.outbox_read_failures import (
    COUNT_READS,
    PUBLISHER_READS,
    OutboxReadFailures,
    ReadsOfKind,
    WatchedEventLog,
)
from gateway.pipeline.rule_labels import UnknownLabels, repository_labels, unknown_labels
from gateway.pipeline.service_changes import in_force, pending_line, restart_only_changes
from gateway.pipeline.specs import rule_specs, tracker_specs
from gateway.wording import counted

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
RELOAD_TIMEOUT_S = 10.0


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        inference: InferenceService,
        outbox: Outbox,
        publisher: MqttPublisher | None,
        decider: AlertDecider,
        cameras: CameraPipeline,
        registry: CollectorRegistry,
        evidence: EvidenceEncoder | None = None,
        outbox_reads: OutboxReadFailures | None = None,
    ) -> None:
        self.config = config
        self.evidence = evidence
        self.inference = inference
        self.outbox = outbox
        self.outbox_reads = outbox_reads if outbox_reads is not None else OutboxReadFailures()
        """The outbox reads the HTTP API and the MQTT publisher made that failed (a file damaged where
        start-up did not read); ``publisher`` must have been given the same one."""
        self.event_log = WatchedEventLog(outbox, self.outbox_reads)
        """The outbox as the HTTP API reads it: a failed read is recorded in ``outbox_reads``."""
        self.publisher = publisher
        self.decider = decider
        self.cameras = cameras
        self.registry = registry
        self._started = False
        self._started_monotonic = time.monotonic()
        # The cameras as built, by id: their sources and models stay until the service restarts.
        self._built_cameras = {camera.id: camera for camera in config.cameras}
        # And the service as built: its device id, directories, API, MQTT session and pools.
        self._built = config
        self._pending: tuple[str, ...] = ()
        """Changes a reload could not apply (``camera_changes``, ``service_changes``), for ``degraded``."""
        self._label_cameras: Sequence[CameraConfig] = config.cameras
        """The cameras whose rules' labels are checked against their models' (``rule_labels``): the
        config applied last, checked at every status, as the models reload on their own."""
        self._tokens_problem: str | None = None
        """Why the last reload left the API's tokens as they were (the tokens file unreadable)."""
        self._config_problem: str | None = None
        """Why the last reload left the running config (the file invalid, empty, unreadable)."""
        # As the audit's keys: an alert rule can watch a gauge where the problem text cannot be.
        # Read from the problems when scraped, so the two never disagree.
        Gauge(
            "edge_gateway_config_reload_failed",
            "1 while the last reload of the config file was refused (the running config stays), else 0",
            registry=registry,
        ).set_function(lambda: float(self._config_problem is not None))
        Gauge(
            "edge_gateway_api_tokens_reload_failed",
            "1 while the last reload left the API's tokens as they were (the tokens file unreadable "
            "or holding none), else 0",
            registry=registry,
        ).set_function(lambda: float(self._tokens_problem is not None))

    @classmethod
    def from_config(
        cls,
        config: GatewayConfig,
        *,
        registry: CollectorRegistry | None = None,
        alert_echo: TextIO | None = None,
        open_source: Callable[[CameraConfig], SourceFactory] = source_factory,
        observe: Callable[[FrameResult], None] | None = None,
        capture_clock: Callable[[str], Callable[[], float]] | None = None,
    ) -> Gateway:
        """The real parts. ``alert_echo`` also receives every committed alert as one JSON line;
        ``open_source`` opens each camera (benchmarks play clips through it); ``observe`` sees every
        frame result as the rules judge it, tracks included (benchmarks); ``capture_clock`` gives a
        camera id's clock of capture times (benchmarks playing clips on their own clock; the wall
        clock when None)."""
        registry = registry if registry is not None else CollectorRegistry()
        inference = InferenceService.from_config(config, registry)
        outbox = Outbox.from_config(config, registry)
        # One record of failed reads for the API and the publisher: a page only the publisher reads
        # would otherwise fail every delivery while /v1/status answered healthy.
        outbox_reads = OutboxReadFailures()
        publisher = (
            MqttPublisher(
                config.mqtt,
                config.device_id,
                outbox,
                registry,
                read_failures=ReadsOfKind(outbox_reads, PUBLISHER_READS),
            )
            if config.mqtt is not None
            else None
        )
        evidence_config = config.outbox.evidence
        evidence = EvidenceEncoder(evidence_config, registry) if evidence_config.enabled else None
        decider = AlertDecider(
            outbox,
            rule_specs(config.cameras),
            announce=AlertAnnouncer(registry, alert_echo),
            registry=registry,
            trackers=tracker_specs(config.cameras),
            # cameras is built below (it needs the decider); the lambda reads it when called.
            show=lambda camera_id, detections: cameras.show(camera_id, detections),  # noqa: PLW0108
            observe=observe,
            evidence=evidence,
            # The repository in use: models.repository applies at start, as for the labels below.
            enrolled_formats=lambda model: enrolled_format(config.models.repository, model),
            committed_ids=outbox.committed_event_ids,
        )

        def detect(model: ModelReference, frame: Frame, deadline: float | None) -> Future[DetectOutput]:
            return inference.submit_frame(model, frame.image, deadline)

        def decide(frame: Frame, result: FrameResult) -> bool:
            return decider.submit(result, frame)

        def camera_state(camera_id: str, _previous: CameraState, current: CameraState) -> None:
            if publisher is not None:
                status = cameras.camera(camera_id)
                publisher.publish_camera_state(camera_id, current.value, status.fps_in if status else 0.0)

        cameras = CameraPipeline(
            config.cameras,
            detect,
            decide,
            registry,
            open_source=open_source,
            # Enough to keep every worker busy while the next frames wait; each frame beyond that only
            # adds capture-to-result latency (bench/results/cameras.md).
            max_pending=2 * inference.pool.workers,
            state_listener=camera_state,
            capture_clock=capture_clock,
        )
        return cls(
            config,
            inference=inference,
            outbox=outbox,
            publisher=publisher,
            decider=decider,
            cameras=cameras,
            registry=registry,
            evidence=evidence,
            outbox_reads=outbox_reads,
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Load and warm every model, end events left open, open delivery, then start the cameras.
        Blocks until ready."""
        self.inference.start()
        self._warn_unknown_labels(self.config)
        self._warn_missing_models()
        if self.evidence is not None:
            self.evidence.start()
        self.decider.start()
        if self.publisher is not None:
            self.publisher.start()
        self.cameras.start()
        self._started = True
        self._started_monotonic = time.monotonic()
        logger.info(
            "gateway %s running: %s, %s ready",
            self.config.device_id,
            counted(len(self.config.cameras), "camera"),
            counted(self._ready_models(), "model"),
        )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop in data order; every decided alert is committed before the outbox closes."""
        deadline = time.monotonic() + timeout_s
        self._started = False
        if not self.cameras.stop(max(0.5, deadline - time.monotonic())):
            logger.error("camera threads did not stop in time")
        self.inference.stop()
        if not self.decider.stop(max(0.5, deadline - time.monotonic())):
            logger.error(
                "the alert decider did not finish in time: %d alerts not yet durable", self.decider.held
            )
        if self.evidence is not None:
            self.evidence.stop()
        if self.publisher is not None:
            self.publisher.stop(max(0.5, deadline - time.monotonic()))
        self.outbox.close()

    def reload(self, config: GatewayConfig) -> None:
        """SIGHUP or a console edit: models re-scanned now, rules handed over (open events continue
        under surviving rules, the others end); cameras keep streaming. A camera whose source, model
        or sampling changed keeps its whole previous config until a restart, rules included, and
        ``degraded`` says so (``camera_changes``): installing rules for a model the camera does not
        run would silence its alerts. So do service-wide settings a restart applies (``device_id``,
        ``http``, ``mqtt``, ...: ``service_changes``), which keep their values as started."""
        self.inference.repository.poll()
        plan = plan_reload(self._built_cameras, self.config.cameras, config.cameras)
        service = restart_only_changes(self._built, config)
        pending = plan.pending + ((pending_line(service),) if service else ())
        for change in pending:
            logger.warning("%s", change)
        applied = in_force(self._built, config, plan.cameras)
        reloaded = self.decider.reload(rule_specs(plan.cameras), tracker_specs(plan.cameras))
        try:
            ended: int | None = reloaded.result(RELOAD_TIMEOUT_S)
        except FutureTimeoutError:
            # The decider is behind (the outbox has been refusing commits, so it waits on it): the
            # new rules keep their place among the results queued and apply when it reaches them.
            # Waiting longer would hold SIGHUP's caller (and a SIGTERM behind it); failing would stop
            # the gateway over a reload that is already on its way.
            ended = None
        self.cameras.apply_reload(plan.cameras)
        self.config = applied
        self._pending = pending
        self._warn_unknown_labels(applied)
        self._warn_missing_models()
        if ended is None:
            logger.warning(
                "reloaded: models re-scanned; the alert decider is more than %.0f s behind, so the new "
                "rules apply (open events handed over or ended) once it reaches them",
                RELOAD_TIMEOUT_S,
            )
        else:
            logger.info("reloaded: models re-scanned, rules replaced (%d open events ended)", ended)

    def _warn_unknown_labels(self, config: GatewayConfig) -> None:
        """After the models are scanned (start, reload): log the rules that follow labels their
        camera's model does not have (check-config does not read the models); from now on
        ``degraded`` lists those of ``config`` that can never fire, for as long as that lasts."""
        self._label_cameras = config.cameras
        for rule in self._unknown_labels():
            logger.warning("%s", rule.text, extra={"camera": rule.camera_id, "model": str(rule.model)})

    def _unknown_labels(self) -> list[UnknownLabels]:
        # The repository in use: a reload does not move it (models.repository applies at start).
        return unknown_labels(self._label_cameras, repository_labels(self.inference.repository.config_of))

    def _missing_models(self) -> list[str]:
        """Running cameras whose detector the repository cannot serve now (``model_names``)."""
        repository = self.inference.repository
        statuses = repository.statuses()
        defaults = default_versions({status.name for status in statuses}, repository.config_of)
        return missing_model_problems(self._built_cameras.values(), statuses, defaults)

    def _warn_missing_models(self) -> None:
        for problem in self._missing_models():
            logger.warning("%s", problem)

    # -- health ------------------------------------------------------------------------------------

    def health_problems(self) -> list[str]:
        """Empty while every part makes progress and every decided alert can be committed; the
        systemd watchdog pings only then."""
        problems = self.inference.pool.stuck(self.config.inference.stuck_after_s)
        problems += self.decider.health_problems()
        if self._started and self.evidence is not None and not self.evidence.alive:
            problems.append("evidence-encoder died")
        if self._started and self.publisher is not None and not self.publisher.alive:
            # Alerts stay in the outbox; a restart resumes delivery from the last acknowledged seq.
            problems.append("mqtt-publisher died")
        problems += self.cameras.stuck()
        return problems

    def degraded(self) -> list[str]:
        """Problems that make the gateway unhealthy to an operator without wedging it: cameras that
        stay down or whose frames a model keeps failing (their readers keep reconnecting and a model
        that appears is used, so restarting the service would not help), a config file a reload
        refused (``config_reloaded``), camera changes that wait for a restart, cameras whose
        detector the repository lacks, model.yaml files that are not in force, rules following
        labels their model does not have, an outbox file deleted while open, and outbox reads that
        failed (``outbox_read_failures``)."""
        return (
            self.cameras.degraded(self.config.health.camera_down_after_s)
            + ([self._config_problem] if self._config_problem is not None else [])
            + list(self._pending)
            + self._missing_models()
            + self.inference.repository.config_problems()
            + [rule.text for rule in self._unknown_labels() if rule.never_fires]
            + ([self._tokens_problem] if self._tokens_problem is not None else [])
            + ([file_problem] if (file_problem := self.outbox.file_problem()) is not None else [])
            + ([problem] if (problem := self.outbox_reads.problem()) is not None else [])
        )

    def pending_restart(self) -> list[str]:
        """The changes the last reload could not apply, which wait for a restart: cameras added,
        removed or with restart-only changes, and service-wide settings (``degraded`` lists them)."""
        return list(self._pending)

    def tokens_reloaded(self, problem: str | None) -> None:
        """What the API's tokens file said at the last reload (``serve`` reads it): None when its
        tokens apply, else why the API keeps the ones it had, listed by ``degraded`` until a reload
        reads the file again."""
        self._tokens_problem = problem

    def config_reloaded(self, problem: str | None) -> None:
        """What the config file said at the last reload (``ConfigFile``): None once a reload or a
        console save applies it, else why the running config stays, naming the file and when,
        listed by ``degraded`` (and by ``serve`` in systemd's status line) until then."""
        self._config_problem = problem

    @property
    def config_problem(self) -> str | None:
        """``config_reloaded``'s problem, while it holds."""
        return self._config_problem

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
            f"{streaming}/{counted(len(cameras), 'camera')} streaming, "
            f"{counted(self._ready_models(), 'model')} ready, "
            f"alerts up to seq {status.last_seq} ({delivery})"
        )

    def system_facts(self) -> SystemFacts:
        """For the console's system page (gateway.api.ports.SystemInfo)."""
        try:
            stats = self.outbox.stats()
        except OutboxError as exc:
            # Named by ``degraded`` from now on; the rest of the status is still worth answering.
            self.outbox_reads.failed(COUNT_READS, exc)
            return SystemFacts(self.config.device_id, self._uptime_s(), None, None)
        self.outbox_reads.succeeded(COUNT_READS)
        return SystemFacts(self.config.device_id, self._uptime_s(), stats.stored, stats.pending)

    def _uptime_s(self) -> float:
        return time.monotonic() - self._started_monotonic

    def _ready_models(self) -> int:
        return sum(1 for status in self.inference.models() if status.state is ModelState.READY)

    def scene_changes(self) -> list[SceneChange]:
        """Cameras whose scene changed for good since enrollment (``/v1/status``'s ``reenroll``)."""
        return self.decider.scene_changes()

    def frame_mismatches(self) -> dict[str, str]:
        """Cameras whose anomaly frames are not scored, and why (``/v1/status``'s ``anomaly_unscored``)."""
        return self.decider.frame_mismatches()

    def delivery_status(self) -> DeliveryStatus:
        if self.publisher is None:
            return DeliveryStatus(DeliveryState.OUTBOX_ONLY, None, None, None, self.outbox.last_seq, None, 0)
        return self.publisher.status()
