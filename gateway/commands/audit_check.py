"""``edge-gateway audit check-config --config FILE [--env NAME=VALUE ...]``: what ``audit serve``
would refuse the file for at start, without starting it: the file itself, the database URL's kind,
the keys file, the MQTT password and TLS files, and the HTTP API's tokens and address. Nothing is
opened but files: the database is not connected to, the broker not dialled. Exit 2 on a problem,
each on its own line. The audit unit runs it before each start and each reload.

``--env`` stands in for the directories systemd sets for the service, as for the gateway's
``check-config``: with it the config is checked for the box it will be installed on, so the files it
names are not looked for here, and of the start-up checks only the database's kind and the address
rule are made (a tokens file named counting as holding tokens).

Without it the audit config could be checked only by starting the service (``check-config`` is the
gateway's and called an audit config's keys unknown), so a keys file with a typo, or a password file
the service user cannot read, showed first as a unit restarting every few seconds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gateway.audit.database import database_kind
from gateway.audit.keys_file import load_keys
from gateway.audit.subscriber_client import make_subscriber_client
from gateway.commands.redaction import print_problems, redact
from gateway.config import AuditConfig, load_audit_config
from gateway.errors import AuditError, ConfigError
from gateway.protocol.bearer import check_bind, load_tokens
from gateway.protocol.mqtt_link import broker_address
from gateway.wording import counted

EXIT_INVALID = 2


def run_check(config_path: Path, variables: Sequence[tuple[str, str]] = ()) -> int:
    """``variables``: the ``--env`` given, over the environment; with any, the files are not read."""
    try:
        config = load_audit_config(config_path, {**os.environ, **dict(variables)})
    except ConfigError as exc:
        print_problems(exc.problems)
        return EXIT_INVALID
    on_this_machine = not variables
    problems, keyed = startup_problems(config, str(config_path), on_this_machine=on_this_machine)
    print_problems(problems)
    if problems:
        return EXIT_INVALID
    keys = f"keys of {counted(keyed, 'device')}" if on_this_machine else "files not read"
    kind = database_kind(config.database)
    # A broker URL may carry a user and password: the line is for a terminal or a journal.
    broker = redact(config.mqtt.url)
    print(f"{config_path}: ok ({keys}, {kind} database, broker {broker})")
    return 0


def startup_problems(
    config: AuditConfig, source: str, *, on_this_machine: bool = True
) -> tuple[list[str], int]:
    """Each problem ``audit serve`` would stop at as it starts, one line each, and how many devices
    the keys file holds keys for (0 when it cannot be read or was not). ``source``: the config's
    name. Not ``on_this_machine``, no file is read."""
    problems: list[str] = []
    keyed = 0
    try:
        database_kind(config.database)
    except AuditError as exc:
        problems.append(f"{source}: database: {exc}")
    if on_this_machine:
        try:
            keyed = len(load_keys(config.keys_file))
        except AuditError as exc:
            problems.append(f"{source}: keys_file: {exc}")
        try:
            make_subscriber_client(config, broker_address(config.mqtt.url))
        except AuditError as exc:
            problems.append(f"{source}: mqtt: {exc}")
    if config.http is not None:
        try:
            tokens_file = config.http.tokens_file
            has_tokens = tokens_file is not None and (not on_this_machine or bool(load_tokens(tokens_file)))
            check_bind(config.http.host, has_tokens=has_tokens, insecure=False, can_be_insecure=False)
        except ConfigError as exc:
            # check_bind's problem names no file (it is the config's); the tokens file's names its own.
            problems.extend(
                f"{source}: {problem.path}: {problem.message}" if problem.file == "<config>" else str(problem)
                for problem in exc.problems
            )
    return problems, keyed
