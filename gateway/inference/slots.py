"""The model repository's bookkeeping: one ``Slot`` per version on disk, one ``Model`` per name,
file stamps for hot reload, and the status each reports."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from gateway.domain import ModelRef, ModelState, ModelVersionStatus, ascii_integer
from gateway.inference.loaded import LoadedVersion
from gateway.inference.model_config import ModelConfig
from gateway.inference.model_state import check_move
from gateway.inference.version_stamps import Stamp, VersionStamp

ON_DEMAND = "loads on its first request"
MODEL_FILE = "model.onnx"
NO_VERSIONS = (
    f"model has no versions: a version is a directory named by its number holding {MODEL_FILE} "
    f"(1/{MODEL_FILE})"
)


def everything(name: str) -> bool:
    return True


def version_of(directory_name: str) -> int | None:
    """The version a directory name stands for: canonical decimal above 0 only. ``01`` or ``007``
    would otherwise become versions 1 and 7 while the files are read from ``<name>/1/`` (another
    version's) or a ``<name>/7/`` that does not exist."""
    number = ascii_integer(directory_name)
    if number is None or number <= 0 or str(number) != directory_name:
        return None
    return number


def versions_in(directory: Path, model_file: str) -> tuple[dict[int, Path], frozenset[str]]:
    """The versions under a model's directory with the paths of their ``model_file``, and the names
    of the other directories (hidden ones, such as enrollment's staging, left out)."""
    versions: dict[int, Path] = {}
    odd: set[str] = set()
    for entry in directory.iterdir():
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        version = version_of(entry.name)
        if version is None:
            odd.add(entry.name)
        else:
            versions[version] = entry / model_file
    return versions, frozenset(odd)


@dataclass(slots=True, eq=False)
class Slot:
    """One version of one model: what serves it now and how loading went."""

    ref: ModelRef
    stamp: VersionStamp | None
    state: ModelState = ModelState.LOADING
    reason: str | None = None
    current: LoadedVersion | None = None
    failed_stamp: VersionStamp | None = None
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
    """The model.yaml in force: the one its serving versions were loaded with."""
    config_error: str | None
    slots: dict[int, Slot] = field(default_factory=dict)
    """Replaced, never mutated, by the poll thread: readers iterate it without a lock."""
    skipped: frozenset[str] = frozenset()
    """Directories that are not versions (``01``, ``v2``), already warned about once."""
    unapplied: ModelConfig | None = None
    """A model.yaml read while versions serve, in force once one of them serves with it: what
    versions load with until then (a version whose files change tries it again)."""
    config_problem: str | None = None
    """Why the model.yaml on disk is not the one in force while versions serve (it does not read,
    or they do not load with it), for /v1/status; None once one applies."""


def status_of(model: Model, slot: Slot) -> ModelVersionStatus:
    loaded = slot.current
    if loaded is not None:
        return loaded.status
    # A version not loaded is described by the model.yaml it would load with (a canary's new inputs).
    config = model.unapplied or model.config
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
    reason = reason or model.config_error or NO_VERSIONS
    return ModelVersionStatus(model.name, version, ModelState.FAILED, reason, "unknown", None, (), (), 0)
