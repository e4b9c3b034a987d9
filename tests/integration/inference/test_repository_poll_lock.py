"""Reload passes that would overlap (the poll thread's and a SIGHUP's), and a pass meeting a load on
demand of the same model, on real model files and ONNX Runtime.

Each test holds the first party inside the engine factory until the second one has either finished
(the passes overlapped: the defect) or announced that it waits (they are serialized): events only,
so the outcome never depends on timing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gateway.domain import ModelRef, ModelState
from gateway.inference.engines.base import Engine, EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.repository import ModelRepository
from tests.support.onnx_models import affine_model_bytes, write_affine_model, write_model_file

POLLING_LOGGER = "gateway.inference.polling"
WAIT_S = 10.0
"""Only a broken test waits this long: every wait below ends on an event the code under test sets."""


class HeldFactory:
    """Real engines, each closing recorded; the ``hold_at``-th build waits for ``release``."""

    def __init__(self, hold_at: int) -> None:
        self.built: list[tuple[Path, OnnxEngine]] = []
        self.closed: list[OnnxEngine] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self._hold_at = hold_at
        self._lock = threading.Lock()

    def __call__(self, path: Path, options: EngineOptions) -> Engine:
        with self._lock:
            number = len(self.built) + 1
            engine = OnnxEngine(path, options)
            self.built.append((path, engine))
        real_close = engine.close

        def close() -> None:
            with self._lock:
                self.closed.append(engine)
            real_close()

        engine.close = close  # type: ignore[method-assign]
        if number == self._hold_at:
            self.held.set()
            assert self.release.wait(WAIT_S), "the second party neither finished nor waited"
        return engine

    def builds_of(self, path: Path) -> int:
        with self._lock:
            return sum(1 for built, _ in self.built if built == path)

    def engines(self) -> list[OnnxEngine]:
        with self._lock:
            return [engine for _, engine in self.built]


class SaysItWaits(logging.Handler):
    """Sets ``event`` when a record's message starts with ``prefix`` (a lock found held)."""

    def __init__(self, prefix: str, event: threading.Event) -> None:
        super().__init__(logging.DEBUG)
        self._prefix = prefix
        self._event = event

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self._prefix):
            self._event.set()


@contextmanager
def announced_waits(prefix: str, event: threading.Event) -> Iterator[None]:
    logger = logging.getLogger(POLLING_LOGGER)
    handler = SaysItWaits(prefix, event)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def in_thread(
    work: Callable[[], object], done: threading.Event | None = None
) -> tuple[threading.Thread, list[BaseException]]:
    """``work`` on a started thread; what it raised goes to the list, and ``done`` is set after."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            failures.append(exc)
        finally:
            if done is not None:
                done.set()

    thread = threading.Thread(target=run, name="test-second-party")
    thread.start()
    return thread, failures


def output_of(repository: ModelRepository, version: int) -> float:
    loaded = repository.route("affine", version)
    outputs = loaded.engines[0].run({"INPUT0": np.zeros((1, 4), np.float32)})
    return float(outputs["OUTPUT0"][0, 0])


def test_a_pass_started_during_another_waits_and_rebuilds_a_changed_version_once(models_root: Path) -> None:
    # Given versions 1 and 2 loaded (builds 1 and 2), and version 1's file rewritten
    write_affine_model(models_root, version=1, offset=1.0)
    version_2 = write_affine_model(models_root, version=2, offset=2.0, write_yaml=False)
    factory = HeldFactory(hold_at=3)
    repository = ModelRepository(models_root, factory, EngineOptions(providers=("cpu",)), warmup_batches=1)
    repository.scan()
    repository.load_all()
    write_model_file(models_root, "affine", 1, affine_model_bytes(offset=3.0))
    second_under_way = threading.Event()

    with announced_waits("a model reload pass is in progress", second_under_way):
        # When the poll thread's pass is building version 1's replacement (build 3, held) ...
        first, first_failures = in_thread(repository.poll)
        assert factory.held.wait(WAIT_S)
        # ... version 2 is rewritten, and a SIGHUP's pass starts
        write_model_file(models_root, "affine", 2, affine_model_bytes(offset=4.0))
        second, second_failures = in_thread(repository.poll, done=second_under_way)
        assert second_under_way.wait(WAIT_S)
        factory.release.set()
        first.join(WAIT_S)
        second.join(WAIT_S)

    # Then version 2 was rebuilt once for its one change, not once per pass, and serves the new file
    assert (first_failures, second_failures) == ([], [])
    assert factory.builds_of(version_2) == 2, "version 2: its first load and one rebuild"
    assert len(factory.engines()) == 4
    assert (output_of(repository, 1), output_of(repository, 2)) == (3.0, 4.0)
    # And its stamp is the file's, not the first pass's stale listing: another pass rebuilds nothing
    repository.poll()
    assert len(factory.engines()) == 4
    # And every engine built either serves or was closed
    serving = {
        id(engine) for version in (1, 2) for engine in repository.current(ModelRef("affine", version)).engines
    }
    closed = {id(engine) for engine in factory.closed}
    assert {id(engine) for engine in factory.engines()} == serving | closed
    assert not serving & closed
    repository.close()
    assert {id(engine) for engine in factory.closed} == {id(engine) for engine in factory.engines()}


def test_a_version_added_while_its_model_loads_on_demand_is_loaded_with_it(models_root: Path) -> None:
    # Given a model no camera uses (it loads on its first request), with version 1 on disk
    write_affine_model(models_root, version=1, offset=1.0)
    factory = HeldFactory(hold_at=1)
    repository = ModelRepository(
        models_root, factory, EngineOptions(providers=("cpu",)), warmup_batches=1, preload=lambda name: False
    )
    repository.scan()
    repository.load_all()
    assert repository.status("affine", 1).state is ModelState.UNLOADED
    pass_under_way = threading.Event()

    with announced_waits("model affine: the reload pass waits", pass_under_way):
        # When its first request loads version 1 (held in the factory), version 2 appears, and a
        # reload pass runs
        loading, loading_failures = in_thread(lambda: repository.load(ModelRef("affine", 1)))
        assert factory.held.wait(WAIT_S)
        write_affine_model(models_root, version=2, offset=2.0, write_yaml=False)
        polling, polling_failures = in_thread(repository.poll, done=pass_under_way)
        assert pass_under_way.wait(WAIT_S)
        factory.release.set()
        loading.join(WAIT_S)
        polling.join(WAIT_S)

    # Then the model is in use, so its new version loaded at once (not left UNLOADED by a pass that
    # saw version 1 still loading), and serves requests without a version
    assert (loading_failures, polling_failures) == ([], [])
    assert repository.status("affine", 1).state is ModelState.READY
    assert repository.status("affine", 2).state is ModelState.READY
    assert repository.route("affine", None).ref == ModelRef("affine", 2)
    repository.close()


def test_the_startup_load_leaves_a_load_on_demand_in_progress_alone(models_root: Path) -> None:
    # Given a model no camera uses, scanned, whose first request is loading it (held in the factory)
    write_affine_model(models_root, version=1, offset=1.0)
    factory = HeldFactory(hold_at=1)
    repository = ModelRepository(
        models_root, factory, EngineOptions(providers=("cpu",)), warmup_batches=1, preload=lambda name: False
    )
    repository.scan()
    startup_under_way = threading.Event()

    with announced_waits("model affine: the reload pass waits", startup_under_way):
        loading, loading_failures = in_thread(lambda: repository.load(ModelRef("affine", 1)))
        assert factory.held.wait(WAIT_S)
        # When the startup load marks the models nobody uses UNLOADED meanwhile
        starting, starting_failures = in_thread(repository.load_all, done=startup_under_way)
        assert startup_under_way.wait(WAIT_S)
        factory.release.set()
        loading.join(WAIT_S)
        starting.join(WAIT_S)

    # Then the first request got its version (no illegal UNLOADED -> READY move), and it serves
    assert (loading_failures, starting_failures) == ([], [])
    assert repository.status("affine", 1).state is ModelState.READY
    assert output_of(repository, 1) == 1.0
    repository.close()


def test_a_pass_that_outlives_close_brings_no_model_back(models_root: Path) -> None:
    # Given a loaded model whose file changed, a new model beside it, and a pass building the
    # changed model's replacement (held in the factory)
    write_affine_model(models_root, "first", offset=1.0)
    factory = HeldFactory(hold_at=2)
    repository = ModelRepository(models_root, factory, EngineOptions(providers=("cpu",)), warmup_batches=1)
    repository.scan()
    repository.load_all()
    write_model_file(models_root, "first", 1, affine_model_bytes(offset=3.0))
    write_affine_model(models_root, "second", offset=2.0)
    running, failures = in_thread(repository.poll)
    assert factory.held.wait(WAIT_S)

    # When the repository closes meanwhile (without waiting for the pass), and then the build ends
    repository.close()
    factory.release.set()
    running.join(WAIT_S)

    # Then the pass ended quietly without loading the new model into the closed repository, and
    # every engine built is closed
    assert failures == []
    assert not running.is_alive()
    assert repository.statuses() == []
    assert len(factory.engines()) == 2
    assert {id(engine) for engine in factory.closed} == {id(engine) for engine in factory.engines()}
