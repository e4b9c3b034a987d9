"""Retention under a wall clock that steps (NTP, an RTC set by hand): the outbox still prunes at its
interval rather than waiting until the clock is back where it last pruned, so ``max_bytes`` keeps
holding; and it ages the alerts it committed by the time they were kept, not by the step. The real
outbox on SQLite; only its clocks are set by hand."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.config import OutboxConfig
from gateway.delivery import outbox_batch
from gateway.delivery.outbox import PRUNE_INTERVAL_S, Outbox
from gateway.domain import AlertEvent, AlertKind, ModelRef

KEY = bytes(range(32))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(number: int) -> AlertEvent:
    return AlertEvent(
        event_id=f"gate:intrusion:{number}",
        kind=AlertKind.INSTANT,
        camera_id="gate",
        rule="intrusion",
        label="person",
        score=0.9,
        zone="yard",
        box=(0.1, 0.2, 0.3, 0.4),
        frame_ts=1_764_000_000.0 + number,
        model=ModelRef("person-detector", 1),
    )


def test_pruning_goes_on_after_the_clock_stepped_back(tmp_path: Path) -> None:
    clock = Clock(1_764_000_000.0)
    outbox = Outbox(tmp_path, "jetson-01", KEY, config=OutboxConfig(max_bytes=2_000), clock=clock)
    try:
        # Given an outbox that pruned (every commit may) just before the clock stepped back an hour
        outbox.append_many([event(0)])
        clock.now -= 3600.0
        # When delivered alerts take it over max_bytes and a prune interval passes on the new clock
        outbox.append_many([event(number) for number in range(1, 12)])
        outbox.mark_delivered(range(1, 13))
        assert outbox.stats().stored == 12
        clock.now += PRUNE_INTERVAL_S
        # Then the oldest delivered alerts are pruned back under max_bytes, not an hour later
        assert outbox.maybe_prune() > 0
        kept = outbox.replay(1, 12)
        assert sum(len(row.payload) for row in kept) <= 2_000
        assert [row.seq for row in kept] == list(range(13 - len(kept), 13))
    finally:
        outbox.close()


WEEK_S = 7 * 86_400.0


@pytest.mark.parametrize(
    ("committed_at", "step", "retention_s"),
    [
        (42.0, 1_764_000_000.0, WEEK_S),
        (1_764_000_000.0 + 30 * 86_400.0, -30 * 86_400.0, 3_600.0),
    ],
    ids=["ahead-from-1970", "back-30-days"],
)
def test_retention_ages_alerts_by_the_time_kept_across_a_step(
    tmp_path: Path, committed_at: float, step: float, retention_s: float
) -> None:
    wall, monotonic = Clock(committed_at), Clock(500.0)
    outbox = Outbox(
        tmp_path,
        "jetson-01",
        KEY,
        config=OutboxConfig(retention_s=retention_s),
        clock=wall,
        monotonic=monotonic,
    )
    try:
        # Given five delivered alerts committed on a clock about to step
        outbox.append_many([event(number) for number in range(5)])
        outbox.mark_delivered(range(1, 6))
        # When it steps, and a minute passes
        wall.now += step + 60.0
        monotonic.now += 60.0
        # Then none is pruned: they were kept a minute, whatever the clock said when they came
        outbox.prune()
        assert outbox.stats().stored == 5
        # And once they are older than the retention on the new clock, they go
        wall.now += retention_s
        monotonic.now += retention_s
        outbox.prune()
        assert outbox.stats().stored == 0
    finally:
        outbox.close()


def test_a_batch_stamped_before_a_step_another_thread_told_moves_with_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall, monotonic = Clock(86_400.0), Clock(1_000.0)  # a box booted at 1970, a day ago
    outbox = Outbox(tmp_path, "jetson-01", KEY, clock=wall, monotonic=monotonic)
    try:
        outbox.append_many([event(0)])
        # Given the writer stamped a batch and is held before writing it
        stamped, written = threading.Event(), threading.Event()
        number = outbox_batch.number

        def held(*arguments: Any, **keywords: Any) -> Any:
            if threading.current_thread().name == "outbox-writer":
                stamped.set()
                written.wait(5)
            return number(*arguments, **keywords)

        monkeypatch.setattr(outbox_batch, "number", held)
        future = outbox.append_async([event(1)])
        assert stamped.wait(5)
        # When NTP's first sync steps the clock and the publisher's idle prune reads it first
        wall.now, monotonic.now = 1_764_000_000.0, monotonic.now + 1.0
        outbox.maybe_prune()
        written.set()
        future.result(5)
        monkeypatch.undo()
        # Then both alerts are a second old on the new clock, and neither is pruned an hour on
        outbox.mark_delivered([1, 2])
        wall.now += 3_600.0
        monotonic.now += 3_600.0
        outbox.prune()
        assert outbox.stats().stored == 2
    finally:
        outbox.close()
