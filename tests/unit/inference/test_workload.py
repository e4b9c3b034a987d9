"""The wait estimate behind latency-aware admission (pure logic)."""

from __future__ import annotations

import pytest

from gateway.inference.workload import Running, ServiceTimes, expected_wait


def times(**per_row: float) -> ServiceTimes:
    service_times = ServiceTimes(smoothing=1.0)
    for model, seconds in per_row.items():
        service_times.observe(model, seconds, 1)
    return service_times


def test_service_time_is_a_smoothed_mean_per_row() -> None:
    service_times = ServiceTimes(smoothing=0.5)
    assert service_times.per_row("m") is None
    assert service_times.work("m", 3) == 0.0, "an unmeasured model weighs nothing"
    service_times.observe("m", 0.4, 4)
    assert service_times.per_row("m") == pytest.approx(0.1)
    service_times.observe("m", 0.3, 1)
    assert service_times.per_row("m") == pytest.approx(0.2)
    service_times.observe("m", 1.0, 0)
    assert service_times.per_row("m") == pytest.approx(0.2), "a batch of no rows says nothing"
    with pytest.raises(ValueError, match="smoothing"):
        ServiceTimes(smoothing=0)


@pytest.mark.parametrize(
    ("running", "ahead", "expected"),
    [
        # idle workers: no wait, whatever is measured
        ([None, None], [], 0.0),
        # one busy worker, one idle: the idle one takes it
        ([Running("a", 1, 0.0), None], [], 0.0),
        # both busy: the first to finish (a started at 0 and takes 0.1; b started at 0.05 and takes 0.3)
        ([Running("a", 1, 0.0), Running("b", 1, 0.05)], [], 0.1 - 0.06),
        # the queue goes to whichever worker frees first: a frees at 0.04, takes a (0.1) -> 0.14;
        # b frees at 0.29; the new item starts at 0.14 after `now`
        ([Running("a", 1, 0.0), Running("b", 1, 0.05)], [("a", 1)], 0.14),
        # two queued: 0.04 + 0.1 -> 0.14 then 0.14 + 0.2 (two rows) -> 0.34 vs b at 0.29
        ([Running("a", 1, 0.0), Running("b", 1, 0.05)], [("a", 1), ("a", 2)], 0.29),
        # a batch that has overrun its estimate counts as ending now
        ([Running("a", 1, -5.0), Running("a", 1, -5.0)], [("a", 1)], 0.0),
        # no workers at all: nothing to wait for
        ([], [("a", 1)], 0.0),
    ],
)
def test_expected_wait_plays_the_workers_forward(
    running: list[Running | None], ahead: list[tuple[str, int]], expected: float
) -> None:
    assert expected_wait(0.06, running, ahead, times(a=0.1, b=0.3)) == pytest.approx(expected)
