"""The model repository's bookkeeping: one ``Slot`` per version on disk, one ``Model`` per name,
file stamps for hot reload, and the status each reports."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from gateway.domain import ModelRef, ModelState, ModelVersionStatus
from gateway.inference.loaded import LoadedVersion
from gateway.inference.model_config import ModelConfig
from gateway.inference.model_state import check_move

ON_DEMAND = "loads on its first request"

Stamp = tuple[int, int, int]
"""(mtime_ns, size, inode) of a file: changes on every rewrite, including an atomic rename."""


def everything(name: str) -> bool:
    return True


def stamp_of(path: Path) -> Stamp | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


@dataclass(slots=True, eq=False)
class Slot:
    """One version of one model: what serves it now and how loading went."""

    ref: ModelRef
    stamp: Stamp | None
    state: ModelState = ModelState.LOADING
    reason: str | None = None
    current: LoadedVersion | None = None
    failed_stamp: Stamp | None = None
    load_lock: threading.Lock = field(default_factory=threading.Lock)

    def move(self, target: ModelState, reason: str | None = None) -> None:
        """Change state along ``model_state.ALLOWED``; ModelStateError on a move it does not have."""
        check_move(self.ref, self.state, target)
        self.state, self.reason = target, reason


@dataclass(slots=True, eq=False)
class Model:
    name: str
    config_stamp: Stamp | None
    config: ModelConfig | None
    config_error: str | None
    slots: dict[int, Slot] = field(default_factory=dict)
    """Replaced, never mutated, by the poll thread: readers iterate it without a lock."""


def status_of(model: Model, slot: Slot) -> ModelVersionStatus:
    loaded = slot.current
    if loaded is not None:
        return loaded.status
    config = model.config
    if config is None:
        return config_failure(model, slot.ref.version)
    return ModelVersionStatus(
        name=model.name,
        version=slot.ref.version,
        state=slot.state,
        reason=slot.reason,
        platform=config.platform,
        provider=None,
        inputs=tuple(tensor.spec() for tensor in config.inputs),
        outputs=tuple(tensor.spec() for tensor in config.outputs),
        max_batch_size=config.max_batch_size,
    )


def config_failure(model: Model, version: int, reason: str | None = None) -> ModelVersionStatus:
    reason = reason or model.config_error or "model has no versions"
    return ModelVersionStatus(model.name, version, ModelState.FAILED, reason, "unknown", None, (), (), 0)
