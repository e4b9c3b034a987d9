"""A gap that is filling (a replay arriving) is not asked for again until it stops filling.

Observed with a real device and ``audit serve``: a gap of 30,000 alerts took 38 s to replay, and the
scheduler asked again at 3 s, 7 s, 15 s and 32 s, each time for the rest of the gap, so the device
republished about 105,000 alerts (replays go ahead of its new alerts) instead of 30,000.
"""

from __future__ import annotations

from gateway.audit.records import DeviceProgress
from gateway.audit.replay import ReplayScheduler


def filling(contiguous_seq: int) -> DeviceProgress:
    return DeviceProgress("box", contiguous_seq=contiguous_seq, max_seq=30_001)


def test_a_gap_that_is_filling_is_asked_for_again_only_once_it_stops() -> None:
    scheduler = ReplayScheduler(replay_after_s=1.0, max_interval_s=300.0)
    scheduler.observe([filling(0)], now=0.0)
    assert scheduler.due(1.0) == ["box"]  # asked; the next ask waits 2 s

    # When the replay keeps arriving (the contiguous seq grows) past that wait.
    for now in (1.5, 2.5, 3.5, 4.5):
        scheduler.observe([filling(int(now * 1000))], now=now)
        assert scheduler.due(now) == []

    # Then the gap is asked for again only 2 s after the last progress.
    assert scheduler.due(6.4) == []
    assert scheduler.due(6.5) == ["box"]


def test_new_alerts_above_a_gap_that_does_not_fill_do_not_postpone_the_next_request() -> None:
    scheduler = ReplayScheduler(replay_after_s=1.0)
    scheduler.observe([DeviceProgress("box", contiguous_seq=5, max_seq=10)], now=0.0)
    assert scheduler.due(1.0) == ["box"]
    scheduler.observe([DeviceProgress("box", contiguous_seq=5, max_seq=11)], now=2.5)
    assert scheduler.due(3.0) == ["box"]


def test_images_missing_without_a_gap_are_asked_for_however_many_new_alerts_arrive() -> None:
    scheduler = ReplayScheduler(replay_after_s=1.0)
    scheduler.observe([DeviceProgress("box", 5, 5, evidence_missing=1)], now=0.0)
    assert scheduler.due(1.0) == ["box"]
    scheduler.observe([DeviceProgress("box", 6, 6, evidence_missing=1)], now=2.5)
    assert scheduler.due(3.0) == ["box"]
