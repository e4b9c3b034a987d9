"""A device whose alert times run ahead of their arrival is a clock problem on the fleet page.

Only a delivery delay over the warning was a problem: a device whose alert times ran far ahead
showed "Delivery delay -251622300799.00 s" and "No problems", and one whose clock was ten minutes
fast, its offset not measured yet, went unflagged. No alert arrives before it is raised, so a delay
below minus the clock warning is the device's clock running ahead, said as the measured skew is.
"""

from __future__ import annotations

import pytest

from gateway.audit.fleet import DeviceState
from gateway.audit.fleet_view import CLOCK_WARNING_S, problems, summary

ARRIVED = 1_780_000_000.0


def device(lag_s: float, clock_offset_s: float | None = None) -> DeviceState:
    """An online device, keyed, all its alerts stored, the last one ``lag_s`` after its alert time."""
    return DeviceState(
        "box", "online", None, ARRIVED, 3, 3, 3, ARRIVED - lag_s, ARRIVED, lag_s, 0, 0, None, None,
        clock_offset_s=clock_offset_s,
    )  # fmt: skip


def clock_problems(state: DeviceState) -> list[str]:
    return [problem for problem in problems(state, keyed=True) if problem.startswith("clock skew")]


@pytest.mark.parametrize(
    ("lag_s", "clock_offset_s", "expected"),
    [
        # alert times in the year 9999, the offset not measured
        (
            -251_622_300_799.0,
            None,
            [
                "clock skew: its last alert's time is 251622300799 s ahead of its arrival, "
                "so its clock is at least as far ahead of the audit's"
            ],
        ),
        # ten minutes fast, the offset not measured yet
        (
            -600.0,
            None,
            [
                "clock skew: its last alert's time is 600 s ahead of its arrival, "
                "so its clock is at least as far ahead of the audit's"
            ],
        ),
        # ten minutes fast, measured: said once, as the offset, the delivery delay being none
        (
            -600.0,
            600.0,
            ["clock skew: its clock is 600 s ahead of the audit's, so its alert times are off by as much"],
        ),
        # stepped ahead since its offset was measured
        (
            -600.0,
            1.0,
            [
                "clock skew: its last alert's time is 599 s ahead of its arrival with its measured "
                "clock offset taken out, so its alert times are off by at least as much"
            ],
        ),
        # ahead within the tolerance the measured skew has: no problem
        (-CLOCK_WARNING_S, None, []),
        (-CLOCK_WARNING_S + 0.5, 2.0, []),
    ],
)
def test_alert_times_ahead_of_their_arrival_are_a_clock_problem(
    lag_s: float, clock_offset_s: float | None, expected: list[str]
) -> None:
    assert clock_problems(device(lag_s, clock_offset_s)) == expected


def test_the_summary_counts_a_device_whose_alert_times_run_ahead_as_clock_skewed() -> None:
    fleet = [device(-600.0), device(-600.0, 600.0), device(0.5), device(-3.0)]
    figures = summary(fleet, frozenset({"box"}))
    assert (figures["clock_skewed"], figures["with_problems"]) == (2, 2)
