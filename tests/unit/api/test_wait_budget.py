"""The adaptive wait budget: shrinks while refusals leave no worker idle, grows back while they do."""

from __future__ import annotations

import pytest

from gateway.api.wait_budget import GROW, IDLE_RESTORES, IDLE_SHARE, SHRINK, SMALLEST, WINDOW_S, WaitBudget


class Workers:
    """Two workers' idle seconds, advanced by hand with the clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.idle_s = 0.0

    def clock(self) -> float:
        return self.now

    def idle(self) -> tuple[float, int]:
        return self.idle_s, 2

    def pass_window(self, idle_share: float) -> None:
        self.now += WINDOW_S
        self.idle_s += idle_share * WINDOW_S * 2


def overloaded_window(budget: WaitBudget, workers: Workers, idle_share: float) -> float:
    """One window in which a request is refused, the workers idle ``idle_share`` of it."""
    budget.share()
    budget.refused()
    workers.pass_window(idle_share)
    return budget.share()


def at_smallest() -> tuple[Workers, WaitBudget]:
    """A budget shrunk to its smallest share by windows of refusals that left no worker idle."""
    workers = Workers()
    budget = WaitBudget(workers.idle, workers.clock)
    for _ in range(50):
        overloaded_window(budget, workers, idle_share=0.0)
    assert budget.share() == SMALLEST
    return workers, budget


def test_the_budget_is_one_item_until_refusals_leave_no_worker_idle() -> None:
    workers = Workers()
    budget = WaitBudget(workers.idle, workers.clock)
    assert budget.share() == 1.0
    # Refusing while the workers idled is too eager: the budget stays whole
    assert overloaded_window(budget, workers, idle_share=0.5) == 1.0
    # Refusing while they never idled: demand would fill a shorter queue
    assert overloaded_window(budget, workers, idle_share=0.0) == pytest.approx(SHRINK)
    assert overloaded_window(budget, workers, idle_share=IDLE_SHARE / 2) == pytest.approx(SHRINK**2)


def test_the_budget_stops_at_its_smallest_share_and_grows_back_while_workers_idle() -> None:
    workers, budget = at_smallest()
    assert overloaded_window(budget, workers, idle_share=2 * IDLE_SHARE) == pytest.approx(SMALLEST * GROW)
    for _ in range(50):
        share = overloaded_window(budget, workers, idle_share=2 * IDLE_SHARE)
    assert share == 1.0


def test_a_window_without_refusals_restores_the_whole_item() -> None:
    workers = Workers()
    budget = WaitBudget(workers.idle, workers.clock)
    for _ in range(5):
        overloaded_window(budget, workers, idle_share=0.0)
    assert budget.share() < 1.0
    workers.pass_window(idle_share=0.0)
    assert budget.share() == 1.0


def test_the_budget_moves_once_per_window_whatever_the_requests() -> None:
    workers = Workers()
    budget = WaitBudget(workers.idle, workers.clock)
    for _ in range(100):
        budget.refused()
        workers.now += WINDOW_S / 200
        assert budget.share() == 1.0
    workers.now += WINDOW_S  # well past the window's end
    assert budget.share() == pytest.approx(SHRINK)
    # A quiet hour later, one window without refusals: the whole item again
    workers.now += 3600
    assert budget.share() == 1.0


def test_refusals_that_idle_a_tenth_of_the_workers_restore_the_whole_item_at_once() -> None:
    workers, budget = at_smallest()
    assert overloaded_window(budget, workers, idle_share=IDLE_RESTORES * 1.5) == 1.0


def test_after_a_lull_the_first_window_starts_whole() -> None:
    workers, budget = at_smallest()
    # The last busy window's refusals are still counted when the next request comes, 3 s later,
    # with the workers busy on camera frames all along
    budget.refused()
    workers.now += 6 * WINDOW_S
    assert budget.share() == 1.0


def test_the_budget_shrinks_only_while_at_least_as_many_requests_are_refused_as_admitted() -> None:
    workers, budget = at_smallest()
    # Clients that honour Retry-After: two admitted for each one refused, the workers busy all along.
    # A refused client is gone for a second, so a short queue is not refilled: the budget grows
    for refused, admitted in ((1, 2), (3, 4)):
        for _ in range(refused):
            budget.refused()
        for _ in range(admitted):
            budget.admitted()
        before = budget.share()
        workers.pass_window(idle_share=0.0)
        assert budget.share() == pytest.approx(before * GROW)
    # As many refused as admitted: arrivals at twice the service rate refill any opening
    for _ in range(3):
        budget.refused()
        budget.admitted()
    before = budget.share()
    workers.pass_window(idle_share=0.0)
    assert budget.share() == pytest.approx(before * SHRINK)
