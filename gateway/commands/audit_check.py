"""``edge-gateway audit check-config --config FILE``: what ``audit serve`` would refuse the file for
at start, without starting it: the file itself, the database URL's kind, the keys file, the MQTT
password and TLS files, and the HTTP API's tokens and address. Nothing is opened but files: the
database is not connected to, the broker not dialled. Exit 2 on a problem, each on its own line.

Without it the audit config could be checked only by starting the service (``check-config`` is the
gateway's and called an audit config's keys unknown), so a keys file with a typo, or a password file
the service user cannot read, showed first as a unit restarting every few seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.audit.database import database_kind
from gateway.audit.keys_file import load_keys
from gateway.audit.subscriber_client import make_subscriber_client
from gateway.commands.redaction import redact
from gateway.config import AuditConfig, load_audit_config
from gateway.errors import AuditError, ConfigError
from gateway.protocol.bearer import check_bind, load_tokens
from gateway.protocol.mqtt_link import broker_address
from gateway.wording import counted

EXIT_INVALID = 2


def run_check(config_path: Path) -> int:
    try:
        config = load_audit_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(redact(str(problem)), file=sys.stderr)
        return EXIT_INVALID
    problems, keyed = startup_problems(config, str(config_path))
    for line in problems:
        print(redact(line), file=sys.stderr)
    if problems:
        return EXIT_INVALID
    kind = database_kind(config.database)
    # A broker URL may carry a user and password: the line is for a terminal or a journal.
    broker = redact(config.mqtt.url)
    print(f"{config_path}: ok (keys of {counted(keyed, 'device')}, {kind} database, broker {broker})")
    return 0


def startup_problems(config: AuditConfig, source: str) -> tuple[list[str], int]:
    """Each problem ``audit serve`` would stop at as it starts, one line each, and how many devices
    the keys file holds keys for (0 when it cannot be read). ``source``: the config's name."""
    problems: list[str] = []
    keyed = 0
    try:
        database_kind(config.database)
    except AuditError as exc:
        problems.append(f"{source}: database: {exc}")
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
            tokens = (
                load_tokens(config.http.tokens_file) if config.http.tokens_file is not None else frozenset()
            )
            check_bind(config.http.host, has_tokens=bool(tokens), insecure=False, can_be_insecure=False)
        except ConfigError as exc:
            # check_bind's problem names no file (it is the config's); the tokens file's names its own.
            problems.extend(
                f"{source}: {problem.path}: {problem.message}" if problem.file == "<config>" else str(problem)
                for problem in exc.problems
            )
    return problems, keyed
