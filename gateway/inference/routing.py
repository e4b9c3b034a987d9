"""Which version of a model serves a request: the pinned one (``name:version``), else the default
(``routing.default_version``, or the highest READY version) with ``routing.canary``'s weighted
share sent to the canary version, and the status of that choice.

Pure functions of the repository's bookkeeping (``slots.Model``, ``slots.Slot``): they load nothing
and take no lock, reading ``Model.slots`` as the poll thread last replaced it.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.domain import ModelRouting, ModelState, ModelVersionStatus
from gateway.errors import ModelNotFoundError, ModelNotReadyError
from gateway.inference.loaded import LoadedVersion
from gateway.inference.slots import NO_VERSIONS, Model, Slot, config_failure, status_of
from gateway.wording import versions_listed


def choose_version(model: Model, version: int | None, draw: Callable[[], float]) -> LoadedVersion:
    """The version that serves a request: pinned, or default with the canary's share (``draw``
    gives a number in [0, 1): below the canary's weight, the canary serves if it is loaded)."""
    if version is not None:
        return ready(pinned_slot(model, version))
    if model.config is None:
        raise ModelNotReadyError(f"model {model.name!r}: {model.config_error}")
    canary = model.config.routing.canary
    if canary is not None and draw() < canary.weight:
        slot = model.slots.get(canary.version)
        if slot is not None and slot.current is not None:
            return slot.current
    return ready(default_slot(model))


def routing_of(model: Model) -> ModelRouting:
    """How a request without a version is routed: the default version and the canary's share."""
    routing = model.config.routing if model.config is not None else None
    canary = routing.canary if routing is not None else None
    return ModelRouting(
        default_version=routing.default_version if routing is not None else None,
        canary_version=canary.version if canary is not None else None,
        canary_weight=canary.weight if canary is not None else 0.0,
    )


def status_for(model: Model, version: int | None) -> ModelVersionStatus:
    """The status of ``version``, or with None of the version a request without one would get."""
    if version is None:
        if model.config is None:
            versions = sorted(model.slots)
            return config_failure(model, versions[-1] if versions else 0)
        try:
            return status_of(model, default_slot(model))
        except ModelNotReadyError as exc:
            return config_failure(model, 0, str(exc))
    return status_of(model, pinned_slot(model, version))


def to_load(model: Model) -> Slot | None:
    """For a request without a version on a model that loads on demand: the version to load before
    routing it, else None. That is the version the default will be once loaded (``default_version``,
    else the highest that has not failed: ``default_slot`` alone would keep routing to a lower one a
    pinned request happened to load first), then the canary; None when its model.yaml does not parse
    (``choose_version`` says so)."""
    # The model.yaml the version loads with, not yet in force while no version serves with it.
    config = model.unapplied or model.config
    if config is None:
        return None
    routing = config.routing
    if routing.default_version is not None:
        wanted = model.slots.get(routing.default_version)
    else:
        candidates = [slot for slot in model.slots.values() if slot.state is not ModelState.FAILED]
        wanted = max(candidates, key=lambda slot: slot.ref.version, default=None)
    canary = model.slots.get(routing.canary.version) if routing.canary and routing.canary.weight else None
    for slot in (wanted, canary):
        if (
            slot is not None
            and slot.current is None
            and slot.state in (ModelState.UNLOADED, ModelState.LOADING)
        ):
            return slot
    return None


def pinned_slot(model: Model, version: int) -> Slot:
    slot = model.slots.get(version)
    if slot is None:
        listed = versions_listed(model.slots)
        raise ModelNotFoundError(f"model {model.name!r} has no version {version} (versions: {listed})")
    return slot


def default_slot(model: Model) -> Slot:
    """``routing.default_version``'s slot, else the highest loaded version's, else the highest's.
    The model's config must have parsed (callers check ``model.config`` first)."""
    assert model.config is not None  # checked by choose_version()
    pinned = model.config.routing.default_version
    if pinned is not None:
        slot = model.slots.get(pinned)
        if slot is None:
            raise ModelNotReadyError(
                f"model {model.name!r}: default_version {pinned} is not in the repository"
            )
        return slot
    ready_slots = [slot for slot in model.slots.values() if slot.current is not None]
    if ready_slots:
        return max(ready_slots, key=lambda slot: slot.ref.version)
    if not model.slots:
        raise ModelNotReadyError(f"model {model.name!r}: {NO_VERSIONS}")
    return max(model.slots.values(), key=lambda slot: slot.ref.version)


def ready(slot: Slot) -> LoadedVersion:
    """What serves ``slot`` now; ModelNotReadyError naming its state (and reason) if nothing does."""
    loaded = slot.current
    if loaded is None:
        detail = f": {slot.reason}" if slot.reason else ""
        state = "failed to load" if slot.state is ModelState.FAILED else f"is {slot.state.value}"
        raise ModelNotReadyError(f"model {slot.ref} {state}{detail}")
    return loaded
