"""Hand-written fakes for the pure-logic tests of the camera and the sampler, and the fixtures of the
camera pipeline's tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from gateway.domain import Image
from gateway.errors import SourceError
from gateway.ingest.cameras import CameraPipeline


def image(value: int = 50) -> Image:
    return np.full((48, 64, 3), value, dtype=np.uint8)


class ScriptedSource:
    """Yields ``frames`` frames at ``interval_s``, then fails like a dropped stream."""

    def __init__(
        self, frames: int, interval_s: float = 0.005, value: Callable[[int], int] = lambda _: 50
    ) -> None:
        self.remaining = frames
        self.interval_s = interval_s
        self.value = value
        self.closed = False
        self.index = 0
        self.retrieved = 0

    def grab(self) -> None:
        if self.remaining <= 0:
            raise SourceError("stream ended")
        time.sleep(self.interval_s)
        self.remaining -= 1
        self.index += 1

    def retrieve(self) -> Image:
        self.retrieved += 1
        return image(self.value(self.index))

    def read(self) -> Image:
        self.grab()
        return self.retrieve()

    def close(self) -> None:
        self.closed = True


class ScriptedOpener:
    """Fails the first ``failures`` opens with SourceError, then opens ScriptedSources; with
    ``fail_from`` every open after that many attempts fails again."""

    def __init__(
        self,
        failures: int = 0,
        frames: int = 1_000_000,
        interval_s: float = 0.005,
        fail_from: int | None = None,
    ) -> None:
        self.failures = failures
        self.fail_from = fail_from
        self.frames = frames
        self.interval_s = interval_s
        self.opened: list[ScriptedSource] = []
        self.attempts = 0
        self.lock = threading.Lock()

    def __call__(self) -> ScriptedSource:
        with self.lock:
            self.attempts += 1
            late = self.fail_from is not None and self.attempts > self.fail_from
            if self.attempts <= self.failures or late:
                raise SourceError(f"cannot connect to 127.0.0.1:9: refused (attempt {self.attempts})")
            source = ScriptedSource(self.frames, self.interval_s)
            self.opened.append(source)
            return source


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


@pytest.fixture
def openers() -> dict[str, ScriptedOpener]:
    """Each camera's opener by id: a test may set one before its pipeline is made."""
    return {}


@pytest.fixture
def running() -> Iterator[list[CameraPipeline]]:
    """Pipelines a test started, stopped after it."""
    pipelines: list[CameraPipeline] = []
    yield pipelines
    for pipeline in pipelines:
        assert pipeline.stop(2.0)
