"""A wall clock stepped where a module reads it: the ``time`` module as that module sees it, its
``time()`` shifted by ``offset`` and every other clock (``monotonic`` above all) the real one, as
NTP stepping a host's clock leaves them."""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import pytest


class ShiftedClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def shift_wall_clock(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> ShiftedClock:
    """One shifted clock read by each of ``modules`` (each imports ``time`` as a module)."""
    shifted = ShiftedClock()
    for module in modules:
        monkeypatch.setattr(module, "time", shifted)
    return shifted
