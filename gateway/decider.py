"""The alert decider: frame results -> tracker -> rules -> durable commit -> announce, on one thread.

One named ``alert-decider`` thread owns the rule engine (and the cameras' trackers), so rules are
judged in frame order without locks. Camera callbacks hand results in through ``submit``; a bounded
inbox keeps them (a result that finds it full is dropped and counted: that happens only when the
outbox has refused commits for thousands of frames). Control (reload, stop) travels through the same
inbox, so a reload lands between two frames, never inside one.

Commits go through the sink's asynchronous path (``gateway.commit_queue``): the decider queues the
alerts and moves on to the next frame while the outbox fsyncs (group commit), so an fsync never
stalls the rules. When the sink cannot commit (disk full), it keeps the alerts and retries; the
decider keeps deciding until the sink's own bounded queue is full and then waits, and
``health_problems`` names the failure until commits succeed again. Nothing the rules decided is ever
dropped. Committed alerts are announced (log, metrics, the alert echo) in seq order from this thread.

Evidence: a result arrives with its frame (``submit(result, frame)``), held only while it may still
become evidence: until the rules have judged it, or, when they started an event or crossed a line on
it, until the ``evidence`` encoder (its own thread: the decider never waits on it) has made the JPEG,
which the commit queue attaches to those alerts, in decision order. The bytes of held frames are
bounded (``max_held_frame_bytes``): a frame beyond the bound is not held, counted, and an event it
starts goes without evidence.

A frame that fails before the rules judge it (its camera's tracker refuses it or raises, or the
live view or ``observe`` callback raises) is skipped for that camera alone: counted under
``edge_gateway_decider_frames_failed``, logged once per camera and problem (with its traceback),
and the rules never see it, so the camera's open events get no news and end the normal way (``tick``
ends them ``end_after_s`` later, or ``stop`` does). A tracker that raised anything but its own
refusal of the input (``TrackerInputError``, raised before it changed) may be half updated: it is
replaced, its ids continuing. While a camera's frames have failed for ``failing_health_s`` with none
judged since, ``health_problems`` names it. An exception from the rules themselves stays fatal (the
thread dies, health says so and the watchdog restarts the gateway): the engine may have moved an
event (started or ended it) whose alert, in the same frame's lost list, never reached the outbox,
and only the restart's recovery (ending what the outbox holds open) restores the pairing.

Pairing: at ``start`` the events the sink still holds open (the gateway was killed or lost power)
are ended with ``recovered`` before any result is judged; ``reload`` hands open events over to the
surviving rules and ends the others (a camera's changed tracker settings keep its tracks and their
ids, so the objects in view keep their events); ``stop`` ends what is open with ``stopped`` and waits for the
commits.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.commit_queue import EVIDENCE_KINDS, AlertSink, CommitQueue
from gateway.domain import (
    Alert,
    AlertEvent,
    AlertKind,
    Detection,
    EndReason,
    EvidenceImage,
    Frame,
    FrameResult,
    Image,
    SceneChange,
)
from gateway.rules.engine import RuleEngine
from gateway.rules.specs import CameraRules
from gateway.tracking import Tracker, TrackerSpec
from gateway.tracking.tracker import TrackerInputError

logger = logging.getLogger(__name__)

INBOX_CAPACITY = 4096
"""Frame results waiting for the rules, at most."""
TICK_S = 1.0
"""How often events may end without new frames (motion gating may stop results)."""
MAX_HELD_FRAME_BYTES = 128 * 2**20
"""Frames held for evidence (queued for the rules or for the encoder), at most: about 45 frames of
720p or 20 of 1080p. Normally a handful are held: the rules take microseconds per result."""
EVIDENCE_TIMEOUT_S = 10.0
"""An image not encoded by then is given up (its alerts go without evidence): a wedged encoder must
not hold alerts back."""
FAILING_HEALTH_S = 10.0
"""A camera whose frames have all failed (skipped) for this long, none judged since, is a health
problem: a lasting failure must not hide behind one log line."""

__all__ = ["AlertDecider", "AlertSink", "EvidenceSource"]


class EvidenceSource(Protocol):
    """Turns a frame into its evidence image on a thread of its own."""

    def encode(self, image: Image) -> Future[EvidenceImage]:
        """Never blocks; the future fails (any exception) when no image can be made."""
        ...


Announce = Callable[[Alert], None]
Show = Callable[[str, tuple[Detection, ...]], None]
"""(camera id, its newest detections with track ids): what the camera's live picture draws."""


@dataclass(frozen=True, slots=True)
class _Reload:
    cameras: Sequence[CameraRules]
    trackers: Mapping[str, TrackerSpec]
    done: Future[int]


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


@dataclass(frozen=True, slots=True)
class _Result:
    result: FrameResult
    image: Image | None
    """Its frame, held for evidence; None when evidence is off or the held-frame bound refused it."""
    refused: bool = False


_Item = _Result | _Reload | _Stop


class AlertDecider:
    def __init__(
        self,
        sink: AlertSink,
        cameras: Sequence[CameraRules],
        *,
        announce: Announce,
        registry: CollectorRegistry,
        trackers: Mapping[str, TrackerSpec] | None = None,
        show: Show | None = None,
        observe: Callable[[FrameResult], None] | None = None,
        evidence: EvidenceSource | None = None,
        clock: Callable[[], float] = time.time,
        inbox_capacity: int = INBOX_CAPACITY,
        tick_s: float = TICK_S,
        max_held_frame_bytes: int = MAX_HELD_FRAME_BYTES,
        evidence_timeout_s: float = EVIDENCE_TIMEOUT_S,
        failing_health_s: float = FAILING_HEALTH_S,
    ) -> None:
        """``trackers``: each camera's tracker spec (a camera with track rules and no spec gets the
        defaults); ``show`` receives each judged frame's tracked detections; ``evidence`` (None:
        alerts carry no evidence) encodes the frames that start events; ``observe`` sees each frame
        result exactly as the rules judge it (benchmarks), on the decider thread."""
        self._sink = sink
        self._evidence = evidence
        self._max_held_frame_bytes = max_held_frame_bytes
        self._held_frame_bytes = 0
        self._rules = RuleEngine(cameras)
        self._tracker_specs = dict(trackers or {})
        self._trackers: dict[str, Tracker] = {}
        self._show = show
        self._observe = observe
        self._announce = announce
        self._clock = clock
        self._capacity = inbox_capacity
        self._tick_s = tick_s
        self._wake = threading.Condition()
        self._inbox: collections.deque[_Item] = collections.deque()
        self._queued_results = 0
        self._queue = CommitQueue(sink, announce, self._notify, registry, timeout_s=evidence_timeout_s)
        self._latest: dict[tuple[str, str], float] = {}
        self._scenes_lock = threading.Lock()
        self._scene_changes: dict[str, SceneChange] = {}
        """Per camera, the rules' latest word on a lasting scene change, for other threads to read."""
        self._failing_health_s = failing_health_s
        self._failing_lock = threading.Lock()
        self._failing: dict[tuple[str, str], tuple[float, str]] = {}
        """Per (camera, model) whose latest results failed: (clock time of the first, why the latest
        did)."""
        self._failures_logged: set[tuple[str, str]] = set()
        self._started = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="alert-decider", daemon=True)
        self._dropped = Counter(
            "edge_gateway_decider_results_dropped",
            "Frame results never judged: inbox full (the outbox has been refusing commits), or late "
            "(a newer frame of the camera and model was judged first).",
            ["reason"],
            registry=registry,
        )
        self._frame_bytes = Gauge(
            "edge_gateway_evidence_frames_held_bytes",
            "Bytes of frames held because they may still become evidence (queued or encoding).",
            registry=registry,
        )
        self._frames_failed = Counter(
            "edge_gateway_decider_frames_failed",
            "Frame results skipped because they failed before the rules judged them, by camera and "
            "stage: invalid (the tracker refused the input), tracker (the tracker raised; replaced), "
            "show, observe.",
            ["camera", "stage"],
            registry=registry,
        )
        self._frames_refused = Counter(
            "edge_gateway_evidence_frames_refused",
            "Frames not held for evidence: the held-frame bound was reached.",
            registry=registry,
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """End the events a previous run left open, then start judging results."""
        if self._started:
            raise RuntimeError("alert decider already started")
        self._started = True
        leftovers = self._sink.open_events()
        if leftovers:
            logger.warning(
                "%d events were left open by the previous run (killed or power lost): ending them",
                len(leftovers),
            )
            now = self._clock()
            ends = [_recovered_end(event, now) for event in leftovers]
            for alert in self._sink.append_async(ends).result():
                self._announce(alert)
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Judge what is queued, end the open events, wait for their commits; True when every
        decided alert was committed within ``timeout_s``."""
        self._stopped = True
        if self._thread.is_alive():
            self._enqueue(_Stop())
            self._thread.join(timeout_s)
        return not self._thread.is_alive() and self._queue.held == 0

    def reload(
        self, cameras: Sequence[CameraRules], trackers: Mapping[str, TrackerSpec] | None = None
    ) -> Future[int]:
        """Apply new rules (and tracker specs) between two frames; the future gives how many open
        events were ended."""
        done: Future[int] = Future()
        reload = _Reload(cameras, dict(trackers or {}), done)
        if self._thread.is_alive():
            self._enqueue(reload)
        else:
            self._apply_reload(reload)
        return done

    def health_problems(self) -> list[str]:
        problems = []
        if self._started and not self._stopped and not self._thread.is_alive():
            problems.append("alert-decider died")
        now = self._clock()
        with self._failing_lock:
            failing = sorted(self._failing.items())
        for (camera_id, model), (since, why) in failing:
            if now - since >= self._failing_health_s:
                problems.append(
                    f"camera {camera_id}: every frame of {model} failed for {now - since:.0f} s, "
                    f"skipped unjudged ({why})"
                )
        refused = self._queue.refused
        if refused is not None:
            problems.append(
                f"{refused.count} decided alerts could not be committed ({refused.first}): "
                "logged whole at ERROR; restart after fixing the cause"
            )
        failure = self._sink.commit_failure()
        if failure is not None:
            since, reason = failure
            problems.append(
                f"outbox cannot commit for {max(0.0, self._clock() - since):.0f} s ({reason}): "
                f"{self._queue.held} alerts held in memory, none dropped"
            )
        return problems

    def scene_changes(self) -> list[SceneChange]:
        """Cameras whose scene changed for good since their anomaly model was learned (as of the
        latest anomaly result judged): a re-enroll is due."""
        with self._scenes_lock:
            return list(self._scene_changes.values())

    @property
    def held(self) -> int:
        """Alerts decided and not yet durable."""
        return self._queue.held

    # -- input -------------------------------------------------------------------------------------

    def submit(self, result: FrameResult, frame: Frame | None = None) -> None:
        """From camera callbacks; never blocks. A full inbox drops the result, counted. ``frame``, the
        frame ``result`` was computed on, is held for evidence while the bound allows."""
        image = frame.image if frame is not None and self._evidence is not None else None
        with self._wake:
            accepted = self._queued_results < self._capacity
            refused = image is not None and self._held_frame_bytes + image.nbytes > self._max_held_frame_bytes
            if accepted:
                if image is not None and not refused:
                    self._held_frame_bytes += image.nbytes
                    self._frame_bytes.set(self._held_frame_bytes)
                self._inbox.append(_Result(result, None if refused else image, refused))
                self._queued_results += 1
                self._wake.notify()
        if accepted and refused:
            self._frames_refused.inc()
        if not accepted:
            self._dropped.labels("inbox_full").inc()
            logger.warning("decider inbox full: result dropped", extra={"camera": result.camera_id})

    def _enqueue(self, item: _Reload | _Stop) -> None:
        # Control is never dropped, and keeps its place among the results.
        with self._wake:
            self._inbox.append(item)
            self._wake.notify()

    # -- the decider thread ------------------------------------------------------------------------

    def _run(self) -> None:
        next_tick = time.monotonic() + self._tick_s
        while True:
            with self._wake:
                while not self._inbox and not self._queue.ready():
                    remaining = next_tick - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(remaining)
                item = self._inbox.popleft() if self._inbox else None
                if isinstance(item, _Result):
                    self._queued_results -= 1
            self._queue.announce_committed()
            if isinstance(item, _Result):
                self._judge(item)
            elif isinstance(item, _Reload):
                self._apply_reload(item)
            elif isinstance(item, _Stop):
                self._queue.add(self._rules.close(self._clock(), EndReason.STOPPED))
                self._queue.drain()
                return
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._tick_s
                self._queue.add(self._rules.tick(self._clock()))
            self._queue.forward()

    def _notify(self) -> None:
        with self._wake:
            self._wake.notify()

    def _judge(self, item: _Result) -> None:
        events = self._decide(item.result)
        wanted = self._evidence is not None and any(event.kind in EVIDENCE_KINDS for event in events)
        if wanted and item.image is not None and self._evidence is not None:
            image = self._evidence.encode(item.image)
            # The frame stays held until the encoder is done with it.
            size = item.image.nbytes
            image.add_done_callback(lambda _future: self._release(size))
            self._queue.add(events, image)
            return
        if item.image is not None:
            self._release(item.image.nbytes)
        if wanted:
            self._queue.missing("frames_full" if item.refused else "no_frame", events)
        self._queue.add(events)

    def _release(self, size: int) -> None:
        with self._wake:
            self._held_frame_bytes -= size
            self._frame_bytes.set(self._held_frame_bytes)

    def _decide(self, result: FrameResult) -> list[AlertEvent]:
        key = (result.camera_id, result.model.name)
        latest = self._latest.get(key)
        if latest is not None and result.captured_at < latest:
            # Two frames of a camera may be in inference at once; rules only move forward in time.
            self._dropped.labels("late").inc()
            return []
        self._latest[key] = result.captured_at
        prepared = self._prepare(result)
        if prepared is None:
            return []
        # Not guarded: see the module doc (a rules failure may have lost a start or an end).
        events = self._rules.process(prepared)
        self._judged(key)
        if prepared.anomaly_map is not None:
            self._note_scene(prepared.camera_id)
        return events

    def _prepare(self, result: FrameResult) -> FrameResult | None:
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

    def _judged(self, key: tuple[str, str]) -> None:
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

    def _note_scene(self, camera_id: str) -> None:
        change = self._rules.scene_change(camera_id)
        with self._scenes_lock:
            if change is None:
                self._scene_changes.pop(camera_id, None)
            else:
                self._scene_changes[camera_id] = change

    def _tracker(self, camera_id: str) -> Tracker:
        tracker = self._trackers.get(camera_id)
        if tracker is None:
            # Ids continue from the start time in milliseconds, so a restarted gateway never gives
            # out an id it used before (it would need to start more than one track a millisecond).
            first_id = max(1, round(self._clock() * 1000))
            tracker = Tracker(self._tracker_specs.get(camera_id, TrackerSpec()), first_id=first_id)
            self._trackers[camera_id] = tracker
        return tracker

    def _apply_reload(self, reload: _Reload) -> None:
        for camera_id, spec in reload.trackers.items():
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
        self._tracker_specs = dict(reload.trackers) or self._tracker_specs
        try:
            ended = self._rules.reconfigure(reload.cameras, self._clock())
        except Exception as exc:  # a bug in the specs: the old rules keep running
            logger.exception("reload of the rules failed; the previous rules stay")
            reload.done.set_exception(exc)
            return
        self._queue.add(ended)
        for camera_id in list(self._scene_changes):
            self._note_scene(camera_id)  # a camera gone or a rule replaced has no change to report
        logger.info(
            "rules reloaded: %d open events continue, %d ended", self._rules.open_events(), len(ended)
        )
        reload.done.set_result(len(ended))


def _recovered_end(event: AlertEvent, now: float) -> AlertEvent:
    """The end of an event found open at start, built from its newest alert."""
    return replace(event, kind=AlertKind.END, frame_ts=now, end_reason=EndReason.RECOVERED, evidence=None)


def _motion(spec: TrackerSpec) -> tuple[float, float, float]:
    """What a tracker builds its motion model from, once (``Tracker.__init__``)."""
    return (spec.acceleration, spec.measurement_noise, spec.initial_velocity)
