"""What ``serve`` refuses in a valid config before it starts anything, checked the same way by
``check-config``, so an ``ExecStartPre=edge-gateway check-config`` fails where the service would.

These are checks of the machine, not of the file's text: the tokens file the API needs, the address
it may open without tokens, and a ``state_dir`` that can be (or already is) a directory. Each comes
back as a ``ConfigProblem`` naming the config file and the key, like the file's own problems.
"""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.errors import ConfigError, ConfigProblem
from gateway.protocol.bearer import check_bind, load_tokens

__all__ = ["check_api_address", "check_startup", "check_state_dir", "source_of"]


def source_of(config_path: Path | None) -> str:
    """How problems name the config: its path, or the embedded default."""
    return str(config_path) if config_path is not None else "<embedded default config>"


def check_startup(
    config: GatewayConfig, config_path: Path | None, *, insecure: bool, on_this_machine: bool = True
) -> None:
    """ConfigError listing every problem ``serve`` would refuse ``config`` for at start. Not
    ``on_this_machine`` (a config checked for the service's environment before it is installed), its
    files are not there to read: only the address rule is checked, a tokens file named counting as
    holding tokens."""
    problems: list[ConfigProblem] = []
    try:
        if on_this_machine:
            check_api_address(config, config_path, insecure=insecure)
        else:
            _check_address_rule(config, config_path, insecure=insecure)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        if on_this_machine:
            check_state_dir(config, config_path)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)


def check_api_address(config: GatewayConfig, config_path: Path | None, *, insecure: bool) -> None:
    """ConfigError, naming the config file, for an ``http:`` section ``serve`` would refuse when it
    opens the API: a tokens file it cannot read or that holds none, or a non-loopback host without
    tokens (and without ``--insecure``)."""
    source = source_of(config_path)
    try:
        tokens = load_tokens(config.http.tokens_file) if config.http.tokens_file is not None else frozenset()
        check_bind(config.http.host, has_tokens=bool(tokens), insecure=insecure)
    except ConfigError as exc:
        raise ConfigError(
            [
                replace(problem, file=source) if problem.file == "<config>" else problem
                for problem in exc.problems
            ]
        ) from exc


def _check_address_rule(config: GatewayConfig, config_path: Path | None, *, insecure: bool) -> None:
    try:
        check_bind(config.http.host, has_tokens=config.http.tokens_file is not None, insecure=insecure)
    except ConfigError as exc:
        raise ConfigError(
            [replace(problem, file=source_of(config_path)) for problem in exc.problems]
        ) from exc


def check_state_dir(config: GatewayConfig, config_path: Path | None) -> None:
    """ConfigError naming ``state_dir`` when it is not a directory, or cannot be made one because a
    path above it is a file. A state_dir that does not exist yet is fine: the outbox creates it.
    Without this check the first thing to trip over it is the signing key or the outbox, whose error
    names their own file inside it rather than the key to fix."""
    state_dir = config.state_dir
    problem = _not_a_directory(state_dir)
    if problem is not None:
        raise ConfigError([ConfigProblem(source_of(config_path), None, "state_dir", problem)])


def _not_a_directory(path: Path) -> str | None:
    """Why ``path`` cannot be used as a directory, or None when it is one or can be created."""
    for candidate in (path, *path.parents):
        try:
            mode = candidate.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # created by the outbox, with its parents; a file above it is found next
        except OSError as exc:
            return f"{path}: cannot check {candidate}: {exc.strerror or exc}"
        if stat.S_ISDIR(mode):
            return None
        what = "is a file, not a directory" if stat.S_ISREG(mode) else "is not a directory"
        if candidate == path:
            return f"{path} {what}"
        return f"{path} cannot be created: {candidate} {what}"
    return None
