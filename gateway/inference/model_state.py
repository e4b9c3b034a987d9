"""The moves a model version may make between ``ModelState`` values.

::

    UNLOADED ──first request (models no camera uses load on demand)──► LOADING
       │
       └─model.yaml broken (nothing to serve, so the status reports the config error)──► FAILED
    LOADING ──warm──► READY ──files changed, swapped when warm──► READY
       │  ▲             │
       │  └─changed─┐   └─config broken with nothing serving──► FAILED
       └─load failed─► FAILED ──files changed──► LOADING

Every state may move to UNLOADED (the version's directory went away, or a version nobody uses is
not loaded until asked for). A state may move to itself (a failed version's reason changes; a
ready one is swapped for its reload).
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.domain import ModelRef, ModelState
from gateway.errors import ModelError

ALLOWED: Mapping[ModelState, frozenset[ModelState]] = {
    ModelState.LOADING: frozenset(
        {ModelState.LOADING, ModelState.READY, ModelState.FAILED, ModelState.UNLOADED}
    ),
    ModelState.READY: frozenset({ModelState.READY, ModelState.FAILED, ModelState.UNLOADED}),
    ModelState.FAILED: frozenset({ModelState.FAILED, ModelState.LOADING, ModelState.UNLOADED}),
    ModelState.UNLOADED: frozenset({ModelState.UNLOADED, ModelState.LOADING, ModelState.FAILED}),
}


class ModelStateError(ModelError):
    """A move the table does not allow: a bug in the repository, never a model fault."""


def check_move(ref: ModelRef, previous: ModelState, target: ModelState) -> None:
    if target not in ALLOWED[previous]:
        raise ModelStateError(f"model {ref}: illegal state move {previous.value} -> {target.value}")
