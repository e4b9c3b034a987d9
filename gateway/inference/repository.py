"""The model repository: its passes over the models on disk, loads on demand, and the lookups
that serve requests.

What it holds: the models and versions on disk (module ``repository_files``: the layout, and what
one look at a model's directory changes), found by a scan and kept in step by hot reload, each
version loaded once and warmed before it serves (module ``version_loader``). Unpinned requests go
to the highest READY version (or ``routing.default_version``), and ``routing.canary`` sends a
weighted share of them to another version; ``name:version`` pins one (module ``routing``).

Hot reload: a poll thread compares file stamps (mtime, size, inode). A changed or added version is
loaded side by side while the old engines keep serving; once warm it replaces them atomically and
the old ones close after their in-flight batches finish, so a reload fails no request. A version
whose file cannot be loaded at start is FAILED with the reason; a reload that fails keeps the last
good engines serving (logged) and is retried when the file changes again. A changed model.yaml
is in force (routing, the labels rules are checked against, /v2 of versions not loaded) once a
version serves with it; until then the one the versions were loaded with stays in force and
``config_problems`` says why. While the repository itself is not a directory (unmounted, a link
being replaced) nothing changes: what it loaded keeps serving until it is back.
The poll thread outlives anything one model's files can do: an unexpected error refreshing a model
is logged once per model and problem and the other models keep reloading, and ``polling_problems``
tells the watchdog if the thread ever ends before ``stop``. Passes (the poll thread's, SIGHUP's, the
startup ``scan`` and ``load_all``) run one at a time, and a load on demand never interleaves with a
pass refreshing the same model (``polling.ReloadLocks``). ``close`` waits for no pass: one still
running stops at its next model, and what it was building is let go.

Loading on demand: with a ``preload`` predicate, only the models it accepts load at start (in
``serve``, those a camera uses); the others are UNLOADED ("loads on its first request") until
something calls ``load``, and hot reload leaves them unloaded until then. Measured with the demo
config: not loading yolov8n-bench, which no camera uses, saves its two sessions and their warm-up
arenas.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from pathlib import Path

from gateway.domain import ModelRef, ModelRouting, ModelState, ModelVersionStatus
from gateway.errors import ModelLoadError, ModelNotFoundError, ModelNotReadyError
from gateway.inference.engines.base import EngineFactory, EngineOptions
from gateway.inference.loaded import LoadedVersion
from gateway.inference.model_config import ModelConfig
from gateway.inference.polling import WHOLE_PASS, Poller, ProblemLog, ReloadLocks
from gateway.inference.repository_files import RepositoryFiles
from gateway.inference.routing import choose_version, pinned_slot, ready, routing_of, status_for, to_load
from gateway.inference.slots import MODEL_FILE, ON_DEMAND, Model, Slot, config_failure, everything, status_of
from gateway.inference.version_loader import VersionLoader, unload
from gateway.inference.workload import ServiceTimes
from gateway.suggestions import closest

logger = logging.getLogger(__name__)


class ModelRepository:
    def __init__(
        self,
        root: Path,
        engine_factory: EngineFactory,
        options: EngineOptions,
        *,
        engines_per_version: int = 1,
        warmup_batches: int = 2,
        largest_batch: int | None = None,
        preload: Callable[[str], bool] | None = None,
        service_times: ServiceTimes | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``engines_per_version``: one per worker for engines that are not thread-safe (a
        thread-safe engine is loaded once and shared). ``largest_batch``: the largest batch the
        batcher forms, for warm-up. ``preload``: which model names load at start (default all).
        ``service_times`` receives each version's warm-up timing."""
        self.root = root
        self._preload = preload or everything
        self._random = rng or random.Random()
        # Guards the dict (and ``_closed``) for moments only: serving paths take it, so no load may
        # run under it. Loads are kept apart by ``_locks``.
        self._lock = threading.Lock()
        self._models: dict[str, Model] = {}
        self._closed = False
        self._locks = ReloadLocks()
        self._problems = ProblemLog()
        self._poller = Poller(self.poll, self._problems)
        self._loader = VersionLoader(
            self._model_path,
            engine_factory,
            options,
            engines_per_version=engines_per_version,
            warmup_batches=warmup_batches,
            largest_batch=largest_batch,
            preload=self._preload,
            service_times=service_times,
            closed=lambda: self._closed,
            config_of=self._config,
        )
        self._files = RepositoryFiles(root, self._loader, preload=self._preload, closed=lambda: self._closed)

    # --- scanning and loading -------------------------------------------------------------------

    def scan(self) -> None:
        """Find models and versions on disk (loads nothing); call ``load_all`` or ``poll`` next."""
        with self._locks.whole_pass():
            for name in self._files.model_names() or ():
                self._refresh_quietly(name, load=False)

    def load_all(self) -> None:
        """Load and warm every version ``preload`` accepts that is not yet loaded; failures are
        recorded, never raised. The others are marked UNLOADED until their first ``load``."""
        with self._locks.whole_pass():
            with self._lock:
                models = list(self._models.values())
            for model in models:
                # A first request loading one of them meanwhile finishes first: its version is
                # then loaded, never marked UNLOADED under it.
                with self._locks.model(model.name):
                    for slot in list(model.slots.values()):
                        if slot.current is None and slot.state is not ModelState.FAILED:
                            if self._preload(slot.ref.name):
                                self._loader.load_quietly(slot)
                            else:
                                slot.move(ModelState.UNLOADED, ON_DEMAND)

    def unloaded(self, name: str, version: int | None) -> ModelRef | None:
        """The version that would serve ``name``/``version`` when it loads on demand and is not loaded
        yet (or is loading now), else None (loaded, failed or unknown: ``route`` says which)."""
        if self._preload(name):
            return None
        try:
            model = self._model(name)
        except ModelNotFoundError:
            return None
        slot = model.slots.get(version) if version is not None else to_load(model)
        if slot is None or slot.current is not None:
            return None
        return slot.ref if slot.state in (ModelState.UNLOADED, ModelState.LOADING) else None

    def load(self, ref: ModelRef) -> LoadedVersion:
        """The loaded version, loading it first if nobody has; concurrent callers share one load.
        A reload pass refreshing the same model finishes first, and waits for this load."""
        loaded = self._slot(ref).current
        if loaded is not None:
            return loaded
        with self._locks.model(ref.name, on_demand=True):
            # Looked up again: the pass this waited for may have removed or replaced the version.
            slot = self._slot(ref)
            try:
                return self._loader.load(slot)
            finally:
                # A version loaded with a model.yaml not in force yet puts it in force now: config_of,
                # routing and /v1/status would otherwise wait for the next pass to say so.
                self._files.settle(self._model(ref.name), None)

    # --- routing --------------------------------------------------------------------------------

    def route(self, name: str, version: int | None) -> LoadedVersion:
        """The version that serves a request: pinned, or default with the canary's share."""
        return choose_version(self._model(name), version, self._random.random)

    def routing(self, name: str) -> ModelRouting:
        """How a request without a version is routed: the default version and the canary's share."""
        return routing_of(self._model(name))

    def current(self, ref: ModelRef) -> LoadedVersion:
        """The loaded version serving ``ref`` now; ModelNotReadyError if none."""
        return ready(self._slot(ref))

    def acquire(self, ref: ModelRef) -> LoadedVersion:
        """The serving version with one batch counted in flight; release it with ``exit()``.

        Retries when hot reload retires the version between the lookup and the count, so a swap
        never fails a batch. A version removed since the batch was queued is ModelNotReadyError,
        not "no such version": its requests were valid when sent (an unpinned one named none)."""
        while True:
            try:
                loaded = self.current(ref)
            except ModelNotFoundError as exc:
                raise ModelNotReadyError(
                    f"model {ref} was removed from the repository while the request waited ({exc}); "
                    "send it again"
                ) from exc
            if loaded.enter():
                return loaded

    # --- status ---------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The models the last scan or poll found, sorted (those whose model.yaml fails included)."""
        with self._lock:
            return sorted(self._models)

    def config_of(self, name: str) -> ModelConfig | None:
        """The model's model.yaml in force: the one its serving versions were loaded with (while
        none serves, the one the last scan or poll read); None for a model not in the repository,
        or whose model.yaml does not parse and serves nothing."""
        with self._lock:
            model = self._models.get(name)
        return None if model is None else model.config

    def config_problems(self) -> list[str]:
        """Each model whose model.yaml on disk is not the one in force (it does not read, or its
        serving versions do not load with it), naming the file and why: for ``/v1/status``."""
        with self._lock:
            models = sorted(self._models.values(), key=lambda model: model.name)
        return [model.config_problem for model in models if model.config_problem is not None]

    def statuses(self) -> list[ModelVersionStatus]:
        with self._lock:
            models = sorted(self._models.values(), key=lambda model: model.name)
        result: list[ModelVersionStatus] = []
        for model in models:
            slots = model.slots
            if not slots:
                # Serving nothing, whether or not its model.yaml reads: listed, so it is not missed.
                result.append(config_failure(model, 0))
            result.extend(status_of(model, slots[version]) for version in sorted(slots))
        return result

    def status(self, name: str, version: int | None) -> ModelVersionStatus:
        return status_for(self._model(name), version)

    # --- hot reload -----------------------------------------------------------------------------

    def start_polling(self, interval_s: float, stop: threading.Event) -> None:
        """Poll the files every ``interval_s`` on a named thread until ``stop`` is set."""

        self._poller.start(interval_s, stop)

    def polling_problems(self) -> list[str]:
        """The poll thread, if it ended before ``stop`` was set (hot reload would be off): for the
        watchdog's health check."""
        return self._poller.problems()

    def join_polling(self, timeout: float | None = None) -> None:
        self._poller.join(timeout)

    def poll(self) -> None:
        """One reload pass: load changed and added versions side by side, unload removed ones.
        Called while another pass runs, it waits for that one, then lists the files afresh."""
        with self._locks.whole_pass():
            if self._closed:
                return
            listing = self._files.model_names()
            if listing is None:
                # Gone for a moment (unmounted, a link being replaced, a copy in progress): what it
                # loaded keeps serving. Removing every model is emptying the directory, not losing it.
                return
            names = set(listing)
            with self._lock:
                gone = [self._models.pop(name) for name in list(self._models) if name not in names]
            self._problems.forget_all_but(names)
            for model in gone:
                logger.info("model %s removed from the repository", model.name, extra={"model": model.name})
                with self._locks.model(model.name):
                    for slot in model.slots.values():
                        unload(slot)
            for name in sorted(names):
                if self._closed:
                    return  # close() emptied the repository: loading more would only leak
                self._refresh_quietly(name, load=True)
            self._problems.cleared(WHOLE_PASS)

    def close(self) -> None:
        """Retire every version; engines close as their last batch finishes.

        A pass in progress is not waited for (one load can take minutes): it stops at its next
        model or version, brings nothing back, and a replacement it was building is let go. A load
        in progress (a version's ``load_lock``) is waited for, as it always was."""
        with self._lock:
            self._closed = True
            models = list(self._models.values())
            self._models.clear()
        for model in models:
            for slot in model.slots.values():
                unload(slot)

    def _refresh_quietly(self, name: str, *, load: bool) -> None:
        """``RepositoryFiles.refresh`` under the model's lock; an unexpected error is logged once
        and the other models go on."""
        try:
            with self._locks.model(name):
                self._files.refresh(name, self._registered, load=load)
        except Exception as exc:  # a bug or an odd file in one model must not stop the others
            self._problems.report(name, exc)
        else:
            self._problems.cleared(name)

    def _registered(self, name: str) -> Model | None:
        """The model's bookkeeping, made on its first look; None once the repository is closed."""
        with self._lock:
            if self._closed:
                return None
            model = self._models.get(name)
            if model is None:
                model = self._models[name] = Model(name, None, None, None)
            return model

    # --- lookups --------------------------------------------------------------------------------

    def invalid_names(self) -> list[str]:
        """Directories the last scan or poll skipped because their name is no model name (spaces,
        non-ASCII, control characters, more than 64 characters): no config or request could name
        them, and a /v2 path may not reach them."""
        return self._files.invalid_names()

    def _model(self, name: str) -> Model:
        with self._lock:
            model = self._models.get(name)
        if model is None:
            meant = closest(name, self.names())
            hint = "" if meant is None else f"; did you mean {meant!r}?"
            raise ModelNotFoundError(f"unknown model {name!r}{hint}")
        return model

    def _slot(self, ref: ModelRef) -> Slot:
        return pinned_slot(self._model(ref.name), ref.version)

    def _model_path(self, ref: ModelRef) -> Path:
        return self.root / ref.name / str(ref.version) / MODEL_FILE

    def _config(self, name: str) -> ModelConfig:
        """What a version loads with: a model.yaml read but not in force yet, else the one in force."""
        model = self._model(name)
        config = model.unapplied or model.config
        if config is None:
            raise ModelLoadError(f"model {name!r}: {model.config_error}")
        return config
