"""Telling that the gateway's wall clock was stepped (NTP correcting a clock that booted an hour
fast, or at 1970 with no battery-backed clock): how far the wall clock and the monotonic one moved
apart between two readings taken together.

Two readers: the MQTT publisher, at its wake-ups (at most ``IDLE_WAKE_S`` apart), which then
publishes a fresh ``online`` status. The device's retained ``online`` carries its wall clock (``ts``)
and the audit measures the device's clock offset from it, once per connection: a clock stepped after
connecting left that offset wrong until the next reconnect, and the fleet showed a delivery delay of
the size of the step on every alert, and a clock skew that was gone. And the outbox's commit clock
(``outbox_clock``), which moves the alerts it stamped onto the new clock, for retention.
"""

from __future__ import annotations

CLOCK_STEP_S = 2.0
"""How far the wall clock may move apart from the monotonic one between two wake-ups before it
counts as stepped: the decider's figure for frames (``gateway.decider.capture_clock``), kept here
as its own because delivery imports no other part; NTP slews smaller corrections anyway."""


class WallClockWatch:
    """Fed (wall, monotonic) readings taken together, one at a time."""

    def __init__(self) -> None:
        self._previous: tuple[float, float] | None = None

    def stepped(self, wall: float, monotonic: float) -> float | None:
        """How far the wall clock stepped (negative: back) since the previous reading, or None when
        it kept pace with the monotonic clock."""
        previous, self._previous = self._previous, (wall, monotonic)
        if previous is None:
            return None
        step = (wall - previous[0]) - (monotonic - previous[1])
        return step if abs(step) > CLOCK_STEP_S else None
