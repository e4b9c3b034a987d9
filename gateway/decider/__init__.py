"""The alert decider: frame results -> tracker -> rules -> durable commit -> announce, on one thread.

One named ``alert-decider`` thread owns the rule engine (and the cameras' trackers), so rules are
judged in frame order without locks.

Commits go through the sink's asynchronous path (``gateway.commit_queue``): the decider queues the
alerts and moves on to the next frame while the outbox fsyncs (group commit), so an fsync never
stalls the rules. When the sink cannot commit (disk full), it keeps the alerts and retries; the
decider keeps deciding until the sink's own bounded queue is full and then waits, and
``health_problems`` names the failure until commits succeed again. Nothing the rules decided is ever
dropped. Committed alerts are announced (log, metrics, the alert echo) in seq order from this thread.

A frame that fails before the rules judge it is skipped for its camera alone (``frame_guard``). An
exception from the rules themselves stays fatal (the thread dies, health says so and the watchdog
restarts the gateway): the engine may have moved an event (started or ended it) whose alert, in the
same frame's lost list, never reached the outbox, and only the restart's recovery (ending what the
outbox holds open) restores the pairing.

Pairing: at ``start`` the events the sink still holds open (the gateway was killed or lost power)
are ended with ``recovered`` before any result is judged; ``reload`` hands open events over to the
surviving rules and ends the others (a camera's changed tracker settings keep its tracks and their
ids, so the objects in view keep their events); ``stop`` ends what is open with ``stopped`` and
waits for the commits. A wall clock that steps (``capture_clock``: back behind a camera's newest
judged frame, or ahead of the monotonic clock between two of its frames) restarts that camera's
rules and tracker: its open events end, dated at its newest frame before the step, and its frames
are judged on the new clock (rather than dropped as late until the clock caught up, or with a dwell
that counts the step). Event ids and track ids stay apart from those earlier runs committed
(``committed_ids``, read at ``start``): a restart on a clock behind the previous run's (fake-hwclock
after a power loss) must not give an id again.

- ``decider``: ``AlertDecider``, the thread: the judging loop, start/reload/stop, health.
- ``inbox``: the results and control waiting for the thread, results bounded.
- ``frame_guard``: each camera's tracker, and the frames that fail before the rules judge them.
- ``held_frames``: frames held while they may still become evidence, their bytes bounded.
- ``capture_clock``: each camera's newest judged capture time, and whether the wall clock stepped.

All records log under ``gateway.decider``.
"""

from gateway.commit_queue import AlertSink
from gateway.decider.decider import EVIDENCE_TIMEOUT_S, INBOX_CAPACITY, TICK_S, AlertDecider, Announce
from gateway.decider.frame_guard import FAILING_HEALTH_S, Show
from gateway.decider.held_frames import MAX_HELD_FRAME_BYTES, EvidenceSource

__all__ = [
    "EVIDENCE_TIMEOUT_S",
    "FAILING_HEALTH_S",
    "INBOX_CAPACITY",
    "MAX_HELD_FRAME_BYTES",
    "TICK_S",
    "AlertDecider",
    "AlertSink",
    "Announce",
    "EvidenceSource",
    "Show",
]
