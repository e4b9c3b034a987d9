"""Each camera's newest judged capture time, and whether the wall clock that stamps its frames stepped.

Frames carry two capture times taken together (``Frame.captured_at`` from the wall clock, which the
rules measure durations with, and ``Frame.monotonic_at``). Between two frames of a camera both move
by the same amount unless the wall clock was stepped: back (an RTC set by hand, NTP correcting a
clock that ran fast), which makes every frame after it older than the newest one judged, or ahead
(NTP's first sync on a box that booted without a battery-backed clock, the Jetson's usual case),
which makes a dwell that began a second before the step look hours long. Either way the rules'
times from before the step mean nothing on the new clock: the decider starts the camera afresh.
"""

from __future__ import annotations

CLOCK_STEP_S = 2.0
"""How far the wall clock may move apart from the monotonic one, between two frames of a camera or
behind its newest judged frame, before it counts as stepped. Frames are stamped with both at once,
so they agree to within scheduling otherwise."""


class CaptureClock:
    """Per (camera, model), the capture time of the newest result judged; per camera, the wall and
    monotonic capture times of its newest frame with both."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], float] = {}
        self._paired: dict[str, tuple[float, float]] = {}

    def cameras(self) -> set[str]:
        return {camera_id for camera_id, _model in self._latest}

    def late(self, key: tuple[str, str], captured_at: float) -> bool:
        """Whether a result of ``key`` as new as this one was judged already (two frames of a camera
        may be in inference at once; rules only move forward in time). One of the same capture time
        is another look at a moment judged: judged again, an event ended on a tick at that moment
        started anew with the id of the one that ended (``rules.event_ids``)."""
        latest = self._latest.get(key)
        return latest is not None and captured_at <= latest

    def behind(self, camera_id: str, now: float) -> float | None:
        """The camera's newest judged capture time when the wall clock (``now``) stepped back behind
        it, else None."""
        newest = max(
            (at for (camera, _model), at in self._latest.items() if camera == camera_id), default=None
        )
        return newest if newest is not None and now < newest - CLOCK_STEP_S else None

    def ahead(self, camera_id: str, captured_at: float, monotonic_at: float) -> tuple[float, float] | None:
        """(the capture time of the camera's newest frame before, how far the wall clock moved
        beyond the monotonic one since) when the wall clock stepped ahead between that frame and
        this one, else None."""
        previous = self._paired.get(camera_id)
        if previous is None or monotonic_at <= previous[1]:
            return None
        step = (captured_at - previous[0]) - (monotonic_at - previous[1])
        return (previous[0], step) if step > CLOCK_STEP_S else None

    def judged(self, key: tuple[str, str], captured_at: float, monotonic_at: float | None) -> None:
        self._latest[key] = captured_at
        previous = self._paired.get(key[0])
        if monotonic_at is not None and (previous is None or monotonic_at > previous[1]):
            self._paired[key[0]] = (captured_at, monotonic_at)

    def forget(self, camera_id: str) -> None:
        """The camera starts afresh: nothing judged before counts."""
        for key in [key for key in self._latest if key[0] == camera_id]:
            del self._latest[key]
        self._paired.pop(camera_id, None)
