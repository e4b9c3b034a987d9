"""One model version's life: built (engines, signature check, warm-up) and only then READY; rebuilt
side by side on a change while the old engines serve, then swapped; retired on unload.

Each version is loaded once: its ``Slot.load_lock`` makes concurrent first requests share one load.
A load that fails leaves the version FAILED with the reason (any error, a bug in an engine or a
MemoryError included: never LOADING, never raised past the caller as something else); a reload that
fails keeps the last good engines serving, logged, and is retried when the file changes again. A
version replaced or unloaded is retired: its engines close after their in-flight batches finish.

The repository keeps passes and loads on demand apart with its ``polling.ReloadLocks``; everything
here runs with the model's lock held.
"""

from __future__ import annotations

import contextlib
import logging
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from gateway.domain import ModelRef, ModelState
from gateway.errors import GatewayError, ModelLoadError, ModelNotReadyError
from gateway.inference.engines.base import Engine, EngineFactory, EngineOptions
from gateway.inference.loaded import LoadedVersion, check_signature, warm_up
from gateway.inference.model_config import ModelConfig
from gateway.inference.slots import ON_DEMAND, Slot
from gateway.inference.weights_check import check_weights
from gateway.inference.workload import ServiceTimes

logger = logging.getLogger("gateway.inference.repository")
"""The repository's logger, not this module's: these records carried its name before the loader
was split out of it, and log filters and tests name it."""


class VersionLoader:
    def __init__(
        self,
        model_path: Callable[[ModelRef], Path],
        engine_factory: EngineFactory,
        options: EngineOptions,
        *,
        engines_per_version: int,
        warmup_batches: int,
        largest_batch: int | None,
        preload: Callable[[str], bool],
        service_times: ServiceTimes | None,
        closed: Callable[[], bool],
        config_of: Callable[[str], ModelConfig],
    ) -> None:
        """``model_path``: where a version's model file is. ``closed``: whether the repository is
        closed (no load may start then). ``config_of``: the model's parsed model.yaml, or
        ModelLoadError (ModelNotFoundError for a model no longer in the repository). The others
        are ``ModelRepository``'s arguments of the same names."""
        self._model_path = model_path
        self._factory = engine_factory
        self._options = options
        self._engines_per_version = engines_per_version
        self._warmup_batches = warmup_batches
        self._largest_batch = largest_batch
        self._preload = preload
        self._service_times = service_times
        self._closed = closed
        self._config_of = config_of

    def load(self, slot: Slot) -> LoadedVersion:
        """The loaded version, loading it first if nobody has (the model's lock already held)."""
        ref = slot.ref
        with slot.load_lock:
            if slot.current is not None:
                return slot.current
            if self._closed():
                raise ModelNotReadyError(f"model {ref}: the model repository is closed")
            if slot.state is ModelState.FAILED:
                raise ModelLoadError(f"model {ref} failed to load: {slot.reason}")
            config = self._config_of(ref.name)
            slot.move(ModelState.LOADING)
            try:
                loaded = self.build(ref, config)
            except ModelLoadError as exc:
                slot.move(ModelState.FAILED, str(exc))
                slot.failed_stamp = slot.stamp
                logger.error("model %s failed to load: %s", ref, exc, extra={"model": str(ref)})
                # The request that asked for the load gets the reason with the version it names.
                raise ModelLoadError(f"model {ref} failed to load: {exc}") from exc
            slot.current = loaded
            slot.move(ModelState.READY)
            return loaded

    def load_quietly(self, slot: Slot) -> None:
        """``load`` with the model's lock held. ModelLoadError is recorded on the slot and logged;
        ModelNotReadyError only says that close() came first."""
        with contextlib.suppress(ModelLoadError, ModelNotReadyError):
            self.load(slot)

    def build(self, ref: ModelRef, config: ModelConfig) -> LoadedVersion:
        """New engines for ``ref``, checked against ``config`` and warmed; ModelLoadError on any
        failure, with whatever was built closed."""
        path = self._model_path(ref)
        check_model_file(path)
        options = replace(self._options, model=config)
        engines: list[Engine] = []
        try:
            if config.postprocess.kind == "anomaly":
                check_weights(ref, path)
            while len(engines) < self._engines_per_version:
                engine = self._factory(path, options)
                engines.append(engine)
                check_signature(config, engine)
                if engine.thread_safe:
                    engines = [engine] * self._engines_per_version
            loaded = LoadedVersion(ref, config, tuple(engines))
            batches = self._warmup_batches if config.warmup_batches is None else config.warmup_batches
            per_row = warm_up(loaded, batches, self._largest_batch)
        except Exception as exc:
            for engine in {id(engine): engine for engine in engines}.values():
                engine.close()
            if isinstance(exc, ModelLoadError):
                raise
            # Anything else (MemoryError, a bug in an engine) is still this version's failure: its
            # slot must end FAILED with a reason, never stay LOADING or take the caller down.
            if not isinstance(exc, (GatewayError, MemoryError)):
                logger.error("model %s: unexpected error while loading", ref, exc_info=exc)
            raise ModelLoadError(f"{type(exc).__name__} while loading: {exc}") from exc
        if per_row is not None and self._service_times is not None:
            self._service_times.observe(ref.name, per_row, 1)
        logger.info(
            "model %s ready on %s (%d sessions)",
            ref,
            loaded.provider,
            len({id(engine) for engine in engines}),
            extra={"model": str(ref)},
        )
        return loaded

    def reload(self, slot: Slot, config: ModelConfig) -> str | None:
        """Load the changed version side by side; swap when warm; the old one closes when idle.
        Returns why a version that serves could not be reloaded (it keeps serving), else None."""
        # Under the load lock: a load on demand in flight finishes first, so its move to READY is
        # never made from a state this pass set behind its back (an illegal move, a failed request).
        with slot.load_lock:
            unserved = slot.current is None
            if unserved and not self._preload(slot.ref.name):
                slot.move(ModelState.UNLOADED, ON_DEMAND)
                slot.failed_stamp = None
                return None
            if unserved:
                slot.move(ModelState.LOADING)
                slot.failed_stamp = None
        if unserved:
            self.load_quietly(slot)
            return None
        logger.info("model %s changed, reloading", slot.ref, extra={"model": str(slot.ref)})
        try:
            replacement = self.build(slot.ref, config)
        except GatewayError as exc:
            slot.failed_stamp = slot.stamp
            logger.error(
                "model %s reload failed, the previous load keeps serving: %s",
                slot.ref,
                exc,
                extra={"model": str(slot.ref)},
            )
            return f"version {slot.ref.version} does not load with it: {exc}"
        previous: LoadedVersion | None
        with slot.load_lock:
            # close() unloaded it while this pass built (nothing else can: other passes and loads
            # on demand wait for the model's lock): the unload stands, and the replacement is let
            # go rather than left live.
            if slot.state is ModelState.UNLOADED:
                previous = replacement
            else:
                previous, slot.current = slot.current, replacement
                slot.move(ModelState.READY)
                slot.failed_stamp = None
        if previous is not None:
            previous.retire()
        return None


def check_model_file(path: Path) -> None:
    """ModelLoadError unless ``path`` is a regular file (or a link to one). A FIFO would block the
    engine's open until something writes to it: the start, or every later reload pass, would hang."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(mode):
        raise ModelLoadError(f"{path} is a directory, not a model file")
    if not stat.S_ISREG(mode):
        raise ModelLoadError(f"{path} is not a regular file (a FIFO, socket or device), not a model file")


def unload(slot: Slot) -> None:
    """UNLOADED; what served it is retired (its engines close after their last batch)."""
    with slot.load_lock:
        previous, slot.current = slot.current, None
        slot.move(ModelState.UNLOADED)
    if previous is not None:
        previous.retire()


def fail_unserved(slot: Slot, reason: str) -> None:
    """FAILED with ``reason`` (a loading, unloaded or failed version: the status reports the
    config error); under the load lock, so a load in flight finishes first and is not undone."""
    with slot.load_lock:
        if slot.current is None:
            slot.move(ModelState.FAILED, reason)
