"""What ``serve`` refuses in a valid config before it starts anything, checked the same way by
``check-config``, so an ``ExecStartPre=edge-gateway check-config`` fails where the service would.

These are checks of the machine, not of the file's text: the tokens file the API needs, the address
it may open without tokens, the MQTT password file the link needs, and a ``state_dir`` that can be
(or already is) a directory. Each comes
back as a ``ConfigProblem`` naming the config file, the line and the key, like the file's own
problems (the line of the key's nearest written section where the key is left to its default).
"""

from __future__ import annotations

import stat
from functools import partial
from pathlib import Path

from gateway.config import ConfigSource, GatewayConfig
from gateway.errors import ConfigError, ConfigProblem
from gateway.protocol.bearer import check_bind, load_tokens
from gateway.protocol.mqtt_link import PasswordFileError, read_password

__all__ = ["EMBEDDED", "check_api_address", "check_password_file", "check_startup", "check_state_dir"]

EMBEDDED = ConfigSource("<embedded default config>")
"""How problems name the embedded default config: it has no file, so no lines."""


def check_startup(
    config: GatewayConfig, source: ConfigSource, *, insecure: bool, on_this_machine: bool = True
) -> None:
    """ConfigError listing every problem ``serve`` would refuse ``config`` for at start. Not
    ``on_this_machine`` (a config checked for the service's environment before it is installed), its
    files are not there to read: only the address rule is checked, a tokens file named counting as
    holding tokens."""
    problems: list[ConfigProblem] = []
    try:
        if on_this_machine:
            check_api_address(config, source, insecure=insecure)
        else:
            _check_address_rule(config, source, insecure=insecure)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if on_this_machine:
        for check in (partial(check_password_file, config), partial(check_state_dir, config, source)):
            try:
                check()
            except ConfigError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)


def check_api_address(config: GatewayConfig, source: ConfigSource, *, insecure: bool) -> None:
    """ConfigError, naming the config file, for an ``http:`` section ``serve`` would refuse when it
    opens the API: a tokens file it cannot read or that holds none (named by its own path), or a
    non-loopback host without tokens (and without ``--insecure``)."""
    tokens = load_tokens(config.http.tokens_file) if config.http.tokens_file is not None else frozenset()
    _check_bind(config, source, has_tokens=bool(tokens), insecure=insecure)


def _check_address_rule(config: GatewayConfig, source: ConfigSource, *, insecure: bool) -> None:
    _check_bind(config, source, has_tokens=config.http.tokens_file is not None, insecure=insecure)


def _check_bind(config: GatewayConfig, source: ConfigSource, *, has_tokens: bool, insecure: bool) -> None:
    try:
        check_bind(config.http.host, has_tokens=has_tokens, insecure=insecure)
    except ConfigError as exc:
        raise ConfigError([_located(problem, source) for problem in exc.problems]) from exc


def _located(problem: ConfigProblem, source: ConfigSource) -> ConfigProblem:
    """``problem``, which names a key of the config without a file (``<config>``), at its line."""
    path = tuple(problem.path.split(".")) if problem.path else ()
    return ConfigProblem(source.name, source.line_of(path), problem.path, problem.message)


def check_password_file(config: GatewayConfig) -> None:
    """ConfigError naming ``mqtt.password_file`` (by its own path) when no password can be read from
    it: ``serve`` would read it as the link starts, after the cameras and models, and exit 1 there;
    ``check-config`` would have passed it."""
    if config.mqtt is None:
        return
    try:
        read_password(config.mqtt)
    except PasswordFileError as exc:
        raise ConfigError([exc.problem]) from exc


def check_state_dir(config: GatewayConfig, source: ConfigSource) -> None:
    """ConfigError naming ``state_dir`` when it is not a directory, or cannot be made one because a
    path above it is a file. A state_dir that does not exist yet is fine: the outbox creates it.
    Without this check the first thing to trip over it is the signing key or the outbox, whose error
    names their own file inside it rather than the key to fix."""
    state_dir = config.state_dir
    problem = _not_a_directory(state_dir)
    if problem is not None:
        raise ConfigError([source.problem(("state_dir",), problem)])


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
