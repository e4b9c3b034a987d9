"""The model repository's files read into its bookkeeping: which directories are models and
versions, and what one look at a model's directory changes.

Layout: ``<root>/<name>/model.yaml`` + ``<root>/<name>/<version>/model.onnx``. Only directories
named by a canonical version number (``7``, never ``07``) are versions; others are skipped with one
warning. A model directory whose name is no model name (``domain.NAME_RULE``: a space, a non-ASCII
letter, a control character) is skipped the same way, with one warning, and kept in
``invalid_names``: no config could reference it and a /v2 client may not reach it, so loading it
would only cost memory. While the repository itself is not a directory (unmounted, a link being
replaced) the listing is None and nothing changes: what it loaded keeps serving until it is back.

A look compares file stamps (``version_stamps``: the files in a version's directory). A changed or
added version is loaded side by side (``version_loader``); a removed one is unloaded. The model.yaml
in force is the one the serving versions were loaded with: a changed one reloads them and is in
force once one of them serves with it (each version keeps the config it was loaded with and answers
by it, so a canary may come with inputs of its own). One that does not parse fails the model's
versions while none of them serves; while one does, a model.yaml that does not parse or load stays
out of force, a ``Model.config_problem`` for /v1/status, until the file changes again (or, one that
parsed, until a version's files change and it loads). A look runs with the model's lock held
(``polling.ReloadLocks``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from gateway.config import IDENTIFIER
from gateway.domain import NAME_RULE, ModelRef, ModelState
from gateway.errors import ConfigError
from gateway.inference.model_config import load_model_config
from gateway.inference.slots import MODEL_FILE, ON_DEMAND, Model, Slot, versions_in
from gateway.inference.version_loader import VersionLoader, fail_unserved, unload
from gateway.inference.version_stamps import Stamp, stamp_of, version_stamp
from gateway.printable import printable

logger = logging.getLogger("gateway.inference.repository")
"""The repository's logger, not this module's: these records carried its name before the files
were split out of it, and log filters and tests name it."""

CONFIG_FILE = "model.yaml"
_VALID_NAME = re.compile(IDENTIFIER)
"""A model directory's name must be one a config and a request can name (``NAME_RULE``)."""


class RepositoryFiles:
    def __init__(
        self,
        root: Path,
        loader: VersionLoader,
        *,
        preload: Callable[[str], bool],
        closed: Callable[[], bool],
    ) -> None:
        """``preload`` and ``closed``: ``VersionLoader``'s arguments of the same names."""
        self._root = root
        self._loader = loader
        self._preload = preload
        self._closed = closed
        self._root_missing = False
        self._invalid_names: frozenset[str] = frozenset()
        self._unreadable_names: set[str] = set()
        """Model directories that could not be listed, already logged once."""

    def model_names(self) -> list[str] | None:
        """The model directories' names; None while the repository is not a directory."""
        if not self._root.is_dir():
            if not self._root_missing:  # once, not on every poll
                logger.error(
                    "model repository %s is not a directory (checked again on every poll)", self._root
                )
            self._root_missing = True
            return None
        if self._root_missing:
            logger.info("model repository %s is a directory again", self._root)
        self._root_missing = False
        names: list[str] = []
        invalid: set[str] = set()
        for entry in self._root.iterdir():
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            if _VALID_NAME.fullmatch(entry.name):
                names.append(entry.name)
            else:
                invalid.add(entry.name)
        for name in sorted(invalid - self._invalid_names):  # once, not on every poll
            logger.warning(
                "model directory '%s' in %s is skipped: a model name is %s",
                printable(name),
                self._root,
                NAME_RULE,
            )
        self._invalid_names = frozenset(invalid)
        return sorted(names)

    def invalid_names(self) -> list[str]:
        """Directories the last listing skipped because their name is no model name."""
        return sorted(self._invalid_names)

    def _unreadable(self, name: str, registered: Callable[[str], Model | None], exc: OSError) -> None:
        """A model directory that cannot be listed (mode 000, another owner's): a model that cannot
        serve, with why, not one the repository lacks (left unregistered, ``/v1/status`` said "not
        in the model repository" of a directory an operator could see there). What it serves
        already keeps serving, as when its model.yaml stops reading."""
        model = registered(name)
        if model is None:
            return
        reason = f"cannot read its directory: {exc.strerror or exc}"
        if name not in self._unreadable_names:  # once, not on every poll
            self._unreadable_names.add(name)
            logger.error("model %s: %s (%s)", name, reason, self._root / name, extra={"model": name})
        if model.config is None or not any(slot.current for slot in model.slots.values()):
            model.config, model.config_error, model.unapplied = None, reason, None
            for slot in model.slots.values():
                fail_unserved(slot, reason)
        # Read model.yaml again once the directory reads: its stamp may be the one already seen.
        model.config_stamp = None

    def _read_config(self, model: Model, directory: Path, stamp: Stamp | None) -> bool:
        """Read the model's model.yaml if it changed; whether it did and reads. While no version
        serves it is in force at once; while one does it waits in ``model.unapplied`` for a version
        to load with it (``settle``), and one that does not read is a ``config_problem`` (the one
        in force stays)."""
        name = model.name
        serving = any(slot.current for slot in model.slots.values())
        # One that did not read while versions served is read again once none does: it is in force.
        held_back = model.config_problem is not None and model.unapplied is None and not serving
        if (
            model.config_stamp == stamp
            and (model.config is not None or model.config_error is not None)
            and not held_back
        ):
            return False
        model.config_stamp = stamp
        try:
            config = load_model_config(directory / CONFIG_FILE)
        except (ConfigError, OSError) as exc:
            reason = f"{CONFIG_FILE}: {exc}"
            logger.error("model %s: %s", name, reason, extra={"model": name})
            model.unapplied = None
            if model.config is None or not serving:
                model.config, model.config_error, model.config_problem = None, reason, None
                for slot in model.slots.values():
                    fail_unserved(slot, reason)
            else:
                model.config_problem = _not_in_force(name, directory, reason)
            return False
        if model.config is None or not serving:
            model.config, model.config_error, model.config_problem, model.unapplied = config, None, None, None
        else:
            model.unapplied = config
        return True

    def settle(self, model: Model, failure: str | None) -> None:
        """After a look: ``model.unapplied`` is in force once a version serves with it, or while
        none serves; until then the look's ``failure`` (a serving version that does not load with
        it) is the model's ``config_problem``."""
        config = model.unapplied
        if config is None:
            return
        serving = [slot.current for slot in model.slots.values() if slot.current is not None]
        if not serving or any(loaded.config is config for loaded in serving):
            model.config, model.unapplied, model.config_problem = config, None, None
        elif failure is not None:
            model.config_problem = _not_in_force(model.name, self._root / model.name, failure)
            logger.error("%s", model.config_problem, extra={"model": model.name})

    def refresh(self, name: str, registered: Callable[[str], Model | None], *, load: bool) -> None:
        """Bring model ``name`` in step with its directory. ``registered``: its bookkeeping, made on
        its first look; None once the repository is closed. ``load``: load what is added or changed
        (else only found, as a scan does)."""
        directory = self._root / name
        config_stamp = stamp_of(directory / CONFIG_FILE)
        try:
            model_files, odd = versions_in(directory, MODEL_FILE)
        except OSError as exc:
            self._unreadable(name, registered, exc)
            return
        self._unreadable_names.discard(name)
        model = registered(name)
        if model is None:
            return  # nothing may come back into a closed repository
        versions = {version: version_stamp(path) for version, path in model_files.items()}
        for entry_name in sorted(odd - model.skipped):
            logger.warning(
                "model %s: directory %r is skipped: a version directory is named by its number "
                "without leading zeros (1, 2, ...)",
                name,
                entry_name,
                extra={"model": name},
            )
        model.skipped = frozenset(odd)
        # Removed first: a model.yaml out of force with its last serving version gone is read anew.
        for version in sorted(set(model.slots) - set(versions)):
            logger.info("model %s:%d removed", name, version, extra={"model": f"{name}:{version}"})
            removed = model.slots[version]
            model.slots = {key: value for key, value in model.slots.items() if key != version}
            unload(removed)
        config_changed = self._read_config(model, directory, config_stamp)
        # What loads now: a model.yaml read but not in force yet is tried until a version loads with it.
        config = model.unapplied or model.config
        failure: str | None = None
        for version, stamp in sorted(versions.items()):
            if self._closed():
                return  # close() came during this model's loads: the rest would only leak
            existing = model.slots.get(version)
            if existing is None:
                slot = Slot(ModelRef(name, version), stamp)
                model.slots = {**model.slots, version: slot}
                if model.config is None:
                    slot.move(ModelState.FAILED, model.config_error)
                    continue
                # A model in use (preloaded, or loaded on demand) gets its new versions at once.
                in_use = self._preload(name) or any(other.current for other in model.slots.values())
                if load and in_use:
                    self._loader.load_quietly(slot)
                elif load:
                    slot.move(ModelState.UNLOADED, ON_DEMAND)
            elif config is not None and (config_changed or existing.stamp != stamp):
                existing.stamp = stamp
                if (stamp is not None and stamp != existing.failed_stamp) or config_changed:
                    failure = self._loader.reload(existing, config) or failure
        self.settle(model, failure)


def _not_in_force(name: str, directory: Path, reason: str) -> str:
    return (
        f"model {name}: {directory / CONFIG_FILE} is not applied ({reason}); its versions serve with "
        "the model.yaml they were loaded with until one applies"
    )
