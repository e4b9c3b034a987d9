"""The alert decider: frame results -> tracker -> rules -> durable commit -> announce, on one thread.

One named ``alert-decider`` thread owns the rule engine (and the cameras' trackers), so rules are
judged in frame order without locks. Camera callbacks hand results in through ``submit``; a bounded
inbox keeps them (a result that finds it full is dropped and counted: that happens only when the
outbox has refused commits for thousands of frames). Control (reload, stop) travels through the same
inbox, so a reload lands between two frames, never inside one.

Commits go through the sink's asynchronous path: the decider queues the alerts and moves on to the
next frame while the outbox fsyncs (group commit), so an fsync never stalls the rules. When the sink
cannot commit (disk full), it keeps the alerts and retries; the decider keeps deciding until the
sink's own bounded queue is full and then waits, and ``health_problems`` names the failure until
commits succeed again. Nothing the rules decided is ever dropped. Committed alerts are announced
(log, metrics, the alert echo) in seq order from this thread.

Pairing: at ``start`` the events the sink still holds open (the gateway was killed or lost power)
are ended with ``recovered`` before any result is judged; ``reload`` hands open events over to the
surviving rules and ends the others; ``stop`` ends what is open with ``stopped`` and waits for the
commits.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.domain import Alert, AlertEvent, AlertKind, Detection, EndReason, FrameResult
from gateway.errors import GatewayError
from gateway.rules.engine import RuleEngine
from gateway.rules.specs import CameraRules
from gateway.tracking import Tracker, TrackerSpec

logger = logging.getLogger(__name__)

INBOX_CAPACITY = 4096
"""Frame results waiting for the rules, at most."""
TICK_S = 1.0
"""How often events may end without new frames (motion gating may stop results)."""


class AlertSink(Protocol):
    """Where decided alerts become durable: the outbox."""

    def append_async(self, events: Sequence[AlertEvent]) -> Future[list[Alert]]:
        """Queue ``events`` in order; the future resolves once they are durable. Blocks while the
        sink's bounded queue is full; raises only when the sink is closed."""
        ...

    def open_events(self) -> list[AlertEvent]:
        """The newest alert of every event that started and has not ended."""
        ...

    def commit_failure(self) -> tuple[float, str] | None:
        """(since when, why) while commits fail, else None."""
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
class _Commit:
    future: Future[list[Alert]]
    count: int


_Item = FrameResult | _Reload | _Stop


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
        clock: Callable[[], float] = time.time,
        inbox_capacity: int = INBOX_CAPACITY,
        tick_s: float = TICK_S,
    ) -> None:
        """``trackers``: each camera's tracker spec (a camera with track rules and no spec gets the
        defaults); ``show`` receives each judged frame's tracked detections; ``observe`` each frame
        result exactly as the rules judge it (benchmarks), on the decider thread."""
        self._sink = sink
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
        self._commits: collections.deque[_Commit] = collections.deque()
        self._held = 0
        self._latest: dict[tuple[str, str], float] = {}
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
        self._held_gauge = Gauge(
            "edge_gateway_decider_alerts_held",
            "Alerts decided and queued for the outbox, not yet durable.",
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
        return not self._thread.is_alive() and self._held == 0

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
        failure = self._sink.commit_failure()
        if failure is not None:
            since, reason = failure
            problems.append(
                f"outbox cannot commit for {max(0.0, self._clock() - since):.0f} s ({reason}): "
                f"{self._held} alerts held in memory, none dropped"
            )
        return problems

    @property
    def held(self) -> int:
        """Alerts decided and not yet durable."""
        return self._held

    # -- input -------------------------------------------------------------------------------------

    def submit(self, result: FrameResult) -> None:
        """From camera callbacks; never blocks. A full inbox drops the result, counted."""
        with self._wake:
            accepted = self._queued_results < self._capacity
            if accepted:
                self._inbox.append(result)
                self._queued_results += 1
                self._wake.notify()
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
                while not self._inbox and not self._commit_done():
                    remaining = next_tick - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(remaining)
                item = self._inbox.popleft() if self._inbox else None
                if isinstance(item, FrameResult):
                    self._queued_results -= 1
            self._announce_committed()
            if isinstance(item, FrameResult):
                self._commit(self._decide(item))
            elif isinstance(item, _Reload):
                self._apply_reload(item)
            elif isinstance(item, _Stop):
                self._commit(self._rules.close(self._clock(), EndReason.STOPPED))
                self._drain()
                return
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._tick_s
                self._commit(self._rules.tick(self._clock()))

    def _decide(self, result: FrameResult) -> list[AlertEvent]:
        key = (result.camera_id, result.model.name)
        latest = self._latest.get(key)
        if latest is not None and result.captured_at < latest:
            # Two frames of a camera may be in inference at once; rules only move forward in time.
            self._dropped.labels("late").inc()
            return []
        self._latest[key] = result.captured_at
        if result.model.name == self._rules.tracked_model(result.camera_id):
            output = self._tracker(result.camera_id).update(result.captured_at, result.detections)
            result = replace(result, detections=output.detections, tracks=output.tracks)
            if self._show is not None:
                self._show(result.camera_id, output.detections)
        if self._observe is not None:
            self._observe(result)
        return self._rules.process(result)

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
            if tracker is not None and tracker.spec != spec:
                # A new spec, a new tracker; its ids continue past the old one's.
                self._trackers[camera_id] = Tracker(spec, first_id=tracker.next_id)
        self._tracker_specs = dict(reload.trackers) or self._tracker_specs
        try:
            ended = self._rules.reconfigure(reload.cameras, self._clock())
        except Exception as exc:  # a bug in the specs: the old rules keep running
            logger.exception("reload of the rules failed; the previous rules stay")
            reload.done.set_exception(exc)
            return
        self._commit(ended)
        logger.info(
            "rules reloaded: %d open events continue, %d ended", self._rules.open_events(), len(ended)
        )
        reload.done.set_result(len(ended))

    def _commit(self, events: Sequence[AlertEvent]) -> None:
        if not events:
            return
        try:
            future = self._sink.append_async(events)
        except GatewayError:
            # Only a closed sink raises: the gateway is past stopping and nothing can hold them.
            logger.exception("outbox closed: %d decided alerts cannot be committed: %s", len(events), events)
            return
        self._held += len(events)
        self._held_gauge.set(self._held)
        future.add_done_callback(self._wake_on_commit)
        self._commits.append(_Commit(future, len(events)))

    def _wake_on_commit(self, _future: Future[list[Alert]]) -> None:
        with self._wake:
            self._wake.notify()

    def _commit_done(self) -> bool:
        return bool(self._commits) and self._commits[0].future.done()

    def _announce_committed(self) -> None:
        """Announce, in seq order, every commit that has completed."""
        while self._commits and self._commits[0].future.done():
            commit = self._commits.popleft()
            self._held -= commit.count
            self._held_gauge.set(self._held)
            try:
                alerts = commit.future.result()
            except GatewayError:
                # The sink refused these for good (unencodable: a bug) and logged them whole.
                logger.exception("%d alerts could not be committed", commit.count)
                continue
            for alert in alerts:
                self._announce(alert)

    def _drain(self) -> None:
        """Wait for every queued commit; the sink retries failed ones until it is closed."""
        while self._commits:
            with contextlib.suppress(GatewayError):
                self._commits[0].future.result()
            self._announce_committed()


def _recovered_end(event: AlertEvent, now: float) -> AlertEvent:
    """The end of an event found open at start, built from its newest alert."""
    return replace(event, kind=AlertKind.END, frame_ts=now, end_reason=EndReason.RECOVERED, evidence=None)
