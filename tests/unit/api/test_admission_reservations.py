"""QueueAdmission's reservations: counted as work ahead until released, for RESERVED_FOR_S at most,
and never twice for one holder."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.api.admission import RESERVED_FOR_S, QueueAdmission


class Estimator:
    """40 ms per item, nothing running: the wait is the places reserved, priced at one item each."""

    def __init__(self) -> None:
        self.pending_seen: list[dict[str, int]] = []

    def expected_wait_s(self, pending: Mapping[str, int]) -> float:
        self.pending_seen.append(dict(pending))
        return 0.040 * sum(pending.values())

    def service_time_s(self, name: str) -> float | None:
        return 0.040

    def worker_idle_s(self) -> tuple[float, int]:
        return 0.0, 2


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_place_not_given_back_lapses_after_its_time() -> None:
    estimator, clock = Estimator(), Clock()
    admission = QueueAdmission(estimator, max_queue_wait_ms=50, clock=clock)
    stalled, later = object(), object()
    admission.reserve("detector", stalled)
    clock.now += RESERVED_FOR_S / 2
    admission.reserve("detector", later)
    assert admission.refusal("detector") is not None, "two places: 80 ms over 50"
    clock.now += RESERVED_FOR_S / 2
    # The first lapsed; the second, reserved later, still counts
    assert admission.refusal("detector") is None
    assert estimator.pending_seen[-1] == {"detector": 1}
    admission.release(stalled)  # late: changes nothing
    assert admission.pending == {"detector": 1}
    admission.release(later)
    assert admission.pending == {}


def test_one_holder_holds_one_place() -> None:
    admission = QueueAdmission(Estimator(), max_queue_wait_ms=50, clock=Clock())
    holder = object()
    admission.reserve("detector", holder)
    admission.reserve("detector", holder)
    assert admission.pending == {"detector": 1}
    admission.release(holder)
    assert admission.pending == {}
