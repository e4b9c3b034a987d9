"""The wait estimate behind latency-aware admission (pure logic)."""

from __future__ import annotations

import pytest

from gateway.inference.workload import SHAPES_KEPT, Ahead, Running, ServiceTimes, expected_wait


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
    work = [Ahead(model, rows) for model, rows in ahead]
    assert expected_wait(0.06, running, work, times(a=0.1, b=0.3)) == pytest.approx(expected)


SMALL = (("images", (3, 320, 320), "<f4"),)
LARGE = (("images", (3, 640, 640), "<f4"),)


def test_each_input_shape_has_its_own_price_and_the_model_a_mean_over_all() -> None:
    service_times = ServiceTimes(smoothing=0.5)
    service_times.observe("m", 0.04, 1, SMALL)
    service_times.observe("m", 0.16, 1, LARGE)

    assert service_times.per_row("m", SMALL) == pytest.approx(0.04)
    assert service_times.per_row("m", LARGE) == pytest.approx(0.16)
    assert service_times.per_row("m") == pytest.approx(0.10), "no shape: the mean over every shape"
    other = (("images", (3, 480, 480), "<f4"),)
    assert service_times.per_row("m", other) == pytest.approx(0.10), "a shape not run yet: the mean"
    assert service_times.work("m", 2, LARGE) == pytest.approx(0.32)


def test_the_shape_measured_longest_ago_makes_room_for_a_new_one() -> None:
    service_times = ServiceTimes(smoothing=1.0)
    shapes = [(("x", (width,), "<f4"),) for width in range(SHAPES_KEPT + 1)]
    service_times.observe("m", 0.5, 1, shapes[0])
    for shape in shapes[1:SHAPES_KEPT]:
        service_times.observe("m", 0.1, 1, shape)
    service_times.observe("m", 0.5, 1, shapes[0])  # measured again: now the newest

    service_times.observe("m", 0.1, 1, shapes[SHAPES_KEPT])

    assert service_times.per_row("m", shapes[0]) == pytest.approx(0.5), "kept: measured lately"
    service_times.observe("m", 0.3, 1)  # the mean over every shape moves; a forgotten shape follows it
    assert service_times.per_row("m", shapes[1]) == pytest.approx(0.3), "forgotten: the oldest"
    assert service_times.per_row("m", shapes[SHAPES_KEPT]) == pytest.approx(0.1)


def test_a_queue_of_large_frames_weighs_what_large_frames_cost() -> None:
    service_times = ServiceTimes(smoothing=1.0)
    for _ in range(3):  # clients' small tensors were measured last: the model's mean is theirs
        service_times.observe("m", 0.16, 1, LARGE)
        service_times.observe("m", 0.04, 1, SMALL)
    running = [Running("m", 1, 0.0, LARGE)]
    ahead = [Ahead("m", 1, LARGE), Ahead("m", 1, SMALL), Ahead("m", 1)]

    # 0.16 running + 0.16 + 0.04 queued + one admitted, shape unknown, at the mean (0.04)
    assert expected_wait(0.0, running, ahead, service_times) == pytest.approx(0.40)
