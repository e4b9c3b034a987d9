"""The ``alert-decider`` thread: the judging loop, lifecycle (start, reload, stop) and health.

Camera callbacks hand results in through ``submit``; a bounded inbox keeps them (``inbox``: a result
that finds it full is dropped and counted). Control (reload, stop) travels through the same inbox,
so a reload lands between two frames, never inside one. Each result goes through its camera's
``FrameGuard`` (tracks, live view, ``observe``), then the rules; their alerts, with their frame's
evidence (``HeldFrames``), go to the ``CommitQueue`` and are announced from this thread as they
commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace

from prometheus_client import CollectorRegistry, Counter

from gateway.commit_queue import AlertSink, CommitQueue
from gateway.decider.capture_clock import CLOCK_STEP_S, CaptureClock
from gateway.decider.frame_guard import FAILING_HEALTH_S, FrameGuard, Show
from gateway.decider.held_frames import MAX_HELD_FRAME_BYTES, EvidenceSource, HeldFrames
from gateway.decider.inbox import Inbox, Reload, Result, Stop
from gateway.decider.scene_formats import EnrolledFormats, FormatCheck
from gateway.domain import Alert, AlertEvent, AlertKind, EndReason, Frame, FrameResult, SceneChange
from gateway.rules.engine import RuleEngine
from gateway.rules.event_ids import IdsGiven
from gateway.rules.specs import CameraRules
from gateway.tracking import TrackerSpec
from gateway.wording import counted

logger = logging.getLogger("gateway.decider")
"""The package's logger, not this module's: these records carried its name before the decider was
split into modules, and log filters and tests name it."""

INBOX_CAPACITY = 4096
"""Frame results waiting for the rules, at most."""
TICK_S = 1.0
"""How often events may end without new frames (motion gating may stop results)."""
FRAMES_DUE = 2.0
"""How many of a camera's frame intervals its ticks stay behind its newest judged frame: its next
frame is due after one, and may come late by up to one more (inference under load)."""
EVIDENCE_TIMEOUT_S = 10.0
"""An image not encoded by then is given up (its alerts go without evidence): a wedged encoder must
not hold alerts back."""

Announce = Callable[[Alert], None]
CommittedIds = Callable[[], Mapping[str, IdsGiven]]
"""Per camera, how far the event and track ids earlier runs committed reached
(``Outbox.committed_event_ids``)."""


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
        enrolled_formats: EnrolledFormats | None = None,
        committed_ids: CommittedIds | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        inbox_capacity: int = INBOX_CAPACITY,
        tick_s: float = TICK_S,
        max_held_frame_bytes: int = MAX_HELD_FRAME_BYTES,
        evidence_timeout_s: float = EVIDENCE_TIMEOUT_S,
        failing_health_s: float = FAILING_HEALTH_S,
    ) -> None:
        """``trackers``: each camera's tracker spec (a camera with track rules and no spec gets the
        defaults); ``show`` receives each judged frame's tracked detections; ``evidence`` (None:
        alerts carry no evidence) encodes the frames that start events; ``observe`` sees each frame
        result exactly as the rules judge it (benchmarks), on the decider thread;
        ``enrolled_formats`` (None: no check) gives the frame format each anomaly model version was
        enrolled on, and anomaly frames that do not match it are not scored (``scene_formats``);
        ``committed_ids`` (None: none known), read at ``start``, keeps this run's event and track ids
        apart from those earlier runs committed (the clock may be behind theirs): the rules' ids
        and the trackers' first ids continue from them (``rules.event_ids``)."""
        self._sink = sink
        self._rules = RuleEngine(cameras)
        self._announce = announce
        self._clock = clock
        self._monotonic = monotonic
        """The clock frames' ``monotonic_at`` is read on: a tick compares the wall clock with it."""
        self._tick_s = tick_s
        self._inbox = Inbox(inbox_capacity)
        self._queue = CommitQueue(sink, announce, self._inbox.wake, registry, timeout_s=evidence_timeout_s)
        self._capture_clock = CaptureClock()
        self._committed_ids = committed_ids
        self._ticked_at = clock()
        """The clock at the latest tick: a reading well before it means the clock stepped back."""
        self._lag: dict[str, float] = {}
        self._frame_intervals = _frame_intervals(cameras)
        """Per camera, how long before it was judged its newest judged frame was captured (``_tick``)."""
        self._scenes_lock = threading.Lock()
        self._scene_changes: dict[str, SceneChange] = {}
        """Per camera, the rules' latest word on a lasting scene change, for other threads to read."""
        self._started = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="alert-decider", daemon=True)
        self._dropped = Counter(
            "edge_gateway_decider_results_dropped",
            "Frame results never judged: inbox full (the outbox has been refusing commits), or late "
            "(a frame of the camera and model as new was judged first).",
            ["reason"],
            registry=registry,
        )
        self._held = HeldFrames(evidence, self._queue, registry=registry, max_bytes=max_held_frame_bytes)
        self._formats = FormatCheck(enrolled_formats, registry)
        self._guard = FrameGuard(
            self._rules,
            trackers or {},
            registry=registry,
            clock=clock,
            show=show,
            observe=observe,
            failing_health_s=failing_health_s,
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """End the events a previous run left open, then start judging results."""
        if self._started:
            raise RuntimeError("alert decider already started")
        self._started = True
        if self._committed_ids is not None:
            given = dict(self._committed_ids())
            self._rules.continue_ids(given)
            self._guard.continue_tracks(
                lambda camera_id: given[camera_id].newest_track + 1 if camera_id in given else 1
            )
        leftovers = self._sink.open_events()
        if leftovers:
            logger.warning(
                "%d events were left open by the previous run (killed or power lost): ending them",
                len(leftovers),
            )
            ends = [_recovered_end(event) for event in leftovers]
            for alert in self._sink.append_async(ends).result():
                self._announce(alert)
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Judge what is queued, end the open events, wait for their commits; True when every
        decided alert was committed within ``timeout_s``."""
        self._stopped = True
        if self._thread.is_alive():
            self._inbox.put(Stop())
            self._thread.join(timeout_s)
        return not self._thread.is_alive() and self._queue.held == 0

    def reload(
        self, cameras: Sequence[CameraRules], trackers: Mapping[str, TrackerSpec] | None = None
    ) -> Future[int]:
        """Apply new rules (and tracker specs) between two frames; the future gives how many open
        events were ended."""
        done: Future[int] = Future()
        reload = Reload(cameras, dict(trackers or {}), done)
        if self._thread.is_alive():
            self._inbox.put(reload)
        else:
            self._apply_reload(reload)
        return done

    def health_problems(self) -> list[str]:
        problems = []
        if self._started and not self._stopped and not self._thread.is_alive():
            problems.append("alert-decider died")
        problems.extend(self._guard.problems(self._clock()))
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
                f"{counted(self._queue.held, 'alert')} held in memory, none dropped"
            )
        return problems

    def scene_changes(self) -> list[SceneChange]:
        """Cameras whose scene changed for good since their anomaly model was learned (as of the
        latest anomaly result judged): a re-enroll is due."""
        with self._scenes_lock:
            return list(self._scene_changes.values())

    def frame_mismatches(self) -> dict[str, str]:
        """Per camera whose anomaly frames do not match what its model was enrolled on (not scored):
        why. Any thread."""
        return self._formats.mismatches()

    @property
    def held(self) -> int:
        """Alerts decided and not yet durable."""
        return self._queue.held

    # -- input -------------------------------------------------------------------------------------

    def submit(self, result: FrameResult, frame: Frame | None = None) -> bool:
        """From camera callbacks; never blocks. A full inbox drops the result, counted. ``frame``, the
        frame ``result`` was computed on, is held for evidence while the bound allows. False when
        ``result`` is an anomaly result that is not scored, its frame not matching what the model
        was enrolled on (``scene_formats``): its anomaly map says nothing about the scene."""
        checked = self._formats.check(result, frame)

        def held() -> Result:
            image, refused = self._held.hold(frame.image if frame is not None else None)
            monotonic_at = frame.monotonic_at if frame is not None else None
            return Result(result, image, refused, monotonic_at, checked)

        if not self._inbox.offer(held):
            self._dropped.labels("inbox_full").inc()
            logger.warning("decider inbox full: result dropped", extra={"camera": result.camera_id})
        return checked is None or checked.mismatch is None

    # -- the decider thread ------------------------------------------------------------------------

    def _run(self) -> None:
        next_tick = time.monotonic() + self._tick_s
        while True:
            item = self._inbox.take(next_tick, self._queue.ready)
            self._queue.announce_committed()
            if isinstance(item, Result):
                self._held.queue(self._decide(item), item.image, item.refused)
            elif isinstance(item, Reload):
                self._apply_reload(item)
            elif isinstance(item, Stop):
                self._commit(self._rules.close(self._clock(), EndReason.STOPPED))
                self._queue.drain()
                return
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._tick_s
                now = self._clock()
                if now < self._ticked_at - CLOCK_STEP_S:
                    # Stepped back between two ticks: a camera with no frames since (motion gating)
                    # would keep its open events until the clock caught up.
                    for camera_id in self._capture_clock.cameras():
                        self._commit(self._restart_behind(camera_id, now))
                self._ticked_at = now
                self._commit(self._tick(now))
            self._queue.forward()

    def _tick(self, now: float) -> list[AlertEvent]:
        """Let time pass for each camera's rules without frames: the events that stopped holding end.

        A camera's rules are ticked at the clock less its frames' lag (capture to judging), the
        time up to which its frames have been judged: ticked at the clock itself, an event ended
        whenever the lag plus the time between frames reached ``end_after_s`` while the object was
        still there (``end_after_s: 0`` ended every event on the first tick, and the cooldown
        then held the still present object's next event back), because the frame that renewed it
        was still in inference. Nor does a tick count the time until the camera's next frame is
        due (``FRAMES_DUE`` of its frame intervals): a camera sampled every 10 s with the default
        ``end_after_s`` of 5 had a person seen on every frame ended 5 s after each frame, and the
        cooldown then held the next event back 30 s. A camera whose frames stop (motion gating, a
        lost stream) is ticked on from its latest lag, so its events still end, that much later,
        dated as before.

        A camera whose newest frame came before the wall clock stepped ahead (NTP's first sync) is
        ticked on the clock its rules' times were taken on, the step taken off: ticked at the new
        clock, its open events lapsed at once, dated hours (or, from 1970, decades) after they
        began. Its next frame, on the new clock, starts its rules afresh (``_decide``)."""
        events: list[AlertEvent] = []
        monotonic_now = self._monotonic()
        for camera_id in self._rules.camera_ids():
            stepped = self._capture_clock.ahead(camera_id, now, monotonic_now)
            step = stepped[1] if stepped is not None else 0.0
            due = FRAMES_DUE * self._frame_intervals.get(camera_id, 0.0)
            events += self._rules.tick(now - step - self._lag.get(camera_id, 0.0) - due, [camera_id])
        return events

    def _commit(self, events: list[AlertEvent]) -> None:
        """Every event the rules decide without a frame's evidence goes to the outbox this way."""
        self._queue.add(events)

    def _decide(self, item: Result) -> list[AlertEvent]:
        result, monotonic_at = item.result, item.monotonic_at
        key = (result.camera_id, result.model.name)
        restarted: list[AlertEvent] = []
        if self._capture_clock.late(key, result.captured_at):
            restarted = self._restart_behind(result.camera_id, self._clock())
            if self._capture_clock.late(key, result.captured_at):  # not restarted: the clock holds
                # Two frames of a camera were in inference at once; rules only move forward in time.
                self._dropped.labels("late").inc()
                return []
        elif monotonic_at is not None:
            stepped = self._capture_clock.ahead(result.camera_id, result.captured_at, monotonic_at)
            if stepped is not None:
                last_before, step = stepped
                restarted = self._restart(
                    result.camera_id, last_before, f"the clock stepped ahead {step:.1f} s between two frames"
                )
        self._capture_clock.judged(key, result.captured_at, monotonic_at)
        # On the monotonic clock where the frame has it: a frame captured before the wall clock
        # stepped and judged after would count the step as lag, and ticks would run that far behind.
        if monotonic_at is not None:
            lag = self._monotonic() - monotonic_at
        else:
            lag = self._clock() - result.captured_at
        self._lag[result.camera_id] = max(0.0, lag)
        if not self._formats.scored(result, item.checked):
            # No news for the anomaly rule: an open anomaly event ends end_after_s later, as usual.
            return restarted
        prepared = self._guard.prepare(result)
        if prepared is None:
            return restarted
        # Not guarded: see the package doc (a rules failure may have lost a start or an end).
        events = restarted + self._rules.process(prepared)
        self._guard.judged(key)
        if prepared.anomaly_map is not None:
            self._note_scene(prepared.camera_id)
        return events

    def _restart_behind(self, camera_id: str, now: float) -> list[AlertEvent]:
        """When the clock (``now``) stepped back behind the camera's newest judged frame, start the
        camera afresh (``_restart``): else every frame after the step would be dropped as late, and
        its open events would neither lapse nor reach ``max_event_s``, until the clock caught up (an
        hour for an hour's step)."""
        newest = self._capture_clock.behind(camera_id, now)
        if newest is None:
            return []
        return self._restart(
            camera_id, newest, f"the clock stepped back {newest - now:.1f} s behind the newest frame"
        )

    def _restart(self, camera_id: str, last_before: float, why: str) -> list[AlertEvent]:
        """Start the camera's rules and tracker afresh on a wall clock that stepped, and return the
        ends of its open events, dated at its newest frame before the step (``last_before``): the
        times the rules kept mean nothing on the new clock (a dwell begun a second before a step
        ahead would count the step; one before a step back would never lapse)."""
        self._capture_clock.forget(camera_id)
        self._lag.pop(camera_id, None)
        self._guard.restart(camera_id)
        ended = self._rules.restart(camera_id, last_before)
        logger.warning(
            "%s: the camera's rules and tracker start afresh, %d open events ended",
            why,
            len(ended),
            extra={"camera": camera_id},
        )
        return ended

    def _note_scene(self, camera_id: str) -> None:
        change = self._rules.scene_change(camera_id)
        with self._scenes_lock:
            if change is None:
                self._scene_changes.pop(camera_id, None)
            else:
                self._scene_changes[camera_id] = change

    def _apply_reload(self, reload: Reload) -> None:
        self._guard.retune(reload.trackers)
        try:
            ended = self._rules.reconfigure(reload.cameras, self._clock())
        except Exception as exc:  # a bug in the specs: the old rules keep running
            logger.exception("reload of the rules failed; the previous rules stay")
            reload.done.set_exception(exc)
            return
        self._commit(ended)
        self._frame_intervals = _frame_intervals(reload.cameras)
        self._formats.forget(set(self._rules.camera_ids()))
        for camera_id in list(self._scene_changes):
            self._note_scene(camera_id)  # a camera gone or a rule replaced has no change to report
        logger.info(
            "rules reloaded: %d open events continue, %d ended", self._rules.open_events(), len(ended)
        )
        reload.done.set_result(len(ended))


def _frame_intervals(cameras: Sequence[CameraRules]) -> dict[str, float]:
    return {camera.camera_id: camera.frame_interval_s for camera in cameras}


def _recovered_end(event: AlertEvent) -> AlertEvent:
    """The end of an event found open at start, built from its newest alert and dated at it: the last
    the gateway knew of it. Dated at the restart, it lasted through the whole outage (days, past any
    ``max_event_s``), and on a box that rebooted without a battery-backed clock it ended in 1970,
    decades before it began."""
    return replace(event, kind=AlertKind.END, end_reason=EndReason.RECOVERED, evidence=None)
