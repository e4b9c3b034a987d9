from __future__ import annotations

import pytest

from gateway.api.admission import Refusal


@pytest.mark.parametrize(
    ("wait_s", "budget_s", "shown"),
    [
        (
            0.00042,
            0.00021,
            "expected wait for a worker is 0.42 ms, over the 0.21 ms this model is admitted with",
        ),
        (0.0084, 0.0031, "expected wait for a worker is 8.4 ms, over the 3.1 ms this model is admitted with"),
        (0.0412, 0.0134, "expected wait for a worker is 41 ms, over the 13 ms this model is admitted with"),
    ],
)
def test_a_refusal_shows_its_wait_and_budget_apart_at_every_scale(
    wait_s: float, budget_s: float, shown: str
) -> None:
    # A model of a few hundred microseconds once read "0 ms, over the 0 ms"
    assert Refusal(wait_s, budget_s).message == shown
