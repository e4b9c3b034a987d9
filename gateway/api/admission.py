"""Admission control before a body is read: per-client token buckets, then the queue's wait.

Token buckets (``gateway.web.rate_limit``, shared with the audit service's login): a client is its
bearer token when it has one, else its peer address.

The queue's wait: ``QueueAdmission`` below. Everything here runs on the event loop, so no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.api.wait_budget import WaitBudget
from gateway.web.rate_limit import TokenBuckets

__all__ = ["QueueAdmission", "Refusal", "TokenBuckets", "WaitEstimator"]

RESERVED_FOR_S = 1.0
"""How long a request admitted from its head counts as work ahead while its body arrives. The place
is held so that a burst admitted together is not admitted against the same empty queue, and such
bodies arrive within milliseconds; one still arriving after a second comes from a slow or stalled
client, and holding its place longer let two connections that never finished their bodies keep a
model refused for as long as they stayed open."""


class WaitEstimator(Protocol):
    """What latency-aware admission needs from the inference backend (see ports.InferenceBackend)."""

    def expected_wait_s(self, pending: Mapping[str, int]) -> float: ...

    def service_time_s(self, name: str) -> float | None: ...

    def worker_idle_s(self) -> tuple[float, int]: ...


def _milliseconds(seconds: float) -> str:
    # A model of a few hundred microseconds waits and is admitted with less than a millisecond:
    # whole milliseconds would refuse a "0 ms" wait for being over "0 ms".
    milliseconds = 1000 * seconds
    decimals = 2 if milliseconds < 1 else 1 if milliseconds < 10 else 0
    return f"{milliseconds:.{decimals}f} ms"


@dataclass(frozen=True, slots=True)
class Refusal:
    wait_s: float
    budget_s: float

    @property
    def message(self) -> str:
        return (
            f"expected wait for a worker is {_milliseconds(self.wait_s)}, over the "
            f"{_milliseconds(self.budget_s)} this model is admitted with"
        )

    @property
    def retry_after_s(self) -> float:
        """When the wait will have drained to the budget, if nothing else arrives."""
        return self.wait_s - self.budget_s


class QueueAdmission:
    """Latency-aware admission: a request is admitted while the wait it would have for a worker
    (running batches, the queue, and requests admitted whose bodies are still arriving, each at its
    model's measured time per item) fits the budget: ``max_queue_wait_ms`` when set, else a share of
    one item's service time of the requested model (``wait_budget.WaitBudget``: the whole item while
    that keeps the workers busy, down to a quarter of it while at least as many requests are refused
    as admitted and no worker idles), so an admitted request waits at most about one inference and
    takes about two in all: within the 2x of unloaded latency DESIGN asks for.

    Admission reserves a place for the request (one item of its model) until ``release``, which the
    handler calls once the request is queued (or failed), or for ``RESERVED_FOR_S`` at most, so
    that a burst of requests arriving together is not all admitted against the same empty queue
    while their bodies upload. Camera
    frames are not HTTP requests and are never refused here; they are work ahead like any other.
    A model not measured yet (no warm-up, not loaded) has no budget and is admitted.
    """

    def __init__(
        self,
        estimator: WaitEstimator,
        max_queue_wait_ms: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._estimator = estimator
        self._budget_s = None if max_queue_wait_ms is None else max_queue_wait_ms / 1000
        self._adaptive = WaitBudget(estimator.worker_idle_s) if max_queue_wait_ms is None else None
        self._clock = clock
        self._pending: dict[str, int] = {}
        self._holders: OrderedDict[int, tuple[str, float]] = OrderedDict()
        """id(holder) -> (model, when reserved), oldest first."""

    def refusal(self, model: str) -> Refusal | None:
        """Why one more item of ``model`` would not be admitted now, or None; reserves nothing."""
        budget = self._budget_s
        if self._adaptive is not None:
            service_s = self._estimator.service_time_s(model)
            budget = None if service_s is None else service_s * self._adaptive.share()
        if budget is not None:
            self._let_go_of_stale()
            wait = self._estimator.expected_wait_s(self._pending)
            if wait > budget:
                if self._adaptive is not None:
                    self._adaptive.refused()
                return Refusal(wait, budget)
            if self._adaptive is not None:
                self._adaptive.admitted()
        return None

    def budget_share(self) -> float:
        """The default budget's share of one item's time as last moved (1 under a fixed budget)."""
        return 1.0 if self._adaptive is None else self._adaptive.current

    def reserve(self, model: str, holder: object) -> None:
        """Reserve a place for one item of ``model`` held by ``holder`` until ``release(holder)``,
        whatever the wait (the caller asked ``refusal`` first)."""
        # An id is reused once its object is gone: a place its holder never gave back is given back
        # here, not overwritten and kept for good.
        self.release(holder)
        self._pending[model] = self._pending.get(model, 0) + 1
        self._holders[id(holder)] = (model, self._clock())

    def release(self, holder: object) -> None:
        """Give back ``holder``'s place, if it has one; safe to call more than once."""
        held = self._holders.pop(id(holder), None)
        if held is not None:
            self._give_back(held[0])

    def _let_go_of_stale(self) -> None:
        if not self._holders:
            return
        oldest_kept = self._clock() - RESERVED_FOR_S
        while self._holders:
            holder, (model, reserved_at) = next(iter(self._holders.items()))
            if reserved_at > oldest_kept:
                return
            del self._holders[holder]
            self._give_back(model)

    def _give_back(self, model: str) -> None:
        count = self._pending[model] - 1
        if count > 0:
            self._pending[model] = count
        else:
            del self._pending[model]

    @property
    def pending(self) -> Mapping[str, int]:
        return dict(self._pending)
