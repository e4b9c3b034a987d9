"""``edge-gateway check-config FILE [--env NAME=VALUE ...] [--insecure] [--models DIR]``: validate a
config for ``ExecStartPre``; exit 2 on error. ``-`` for FILE reads the config from standard input (a
file named ``-`` is ``./-``); its problems name ``<stdin>``, and relative paths in it are taken from
the working directory, as they are for a file. A config with no YAML document is refused as a start
and a reload refuse it (``gateway.config.refuse_empty``): the unit runs this before both.

Beyond the file itself it checks what ``serve`` would refuse the config for at start (module
``preflight``): a tokens file that cannot be read or holds none, a non-loopback ``http.host`` without
tokens (allowed with ``--insecure``, as ``serve --insecure`` allows it), an MQTT password file that
cannot be read or is empty, a ``state_dir`` that is a file.

``--env`` stands in for the directories systemd sets for the service, so a config that refers to
``${STATE_DIRECTORY}`` or ``${CREDENTIALS_DIRECTORY}`` can be checked before it is installed: with
it, the files the config names are not looked for (they are not there yet), and of the start-up
checks only the address rule is made.

``--models DIR`` checks the cameras against a model repository too (module ``config_models``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gateway.commands.config_models import check_models
from gateway.commands.preflight import check_startup
from gateway.commands.redaction import print_problems
from gateway.config import (
    EXPANDABLE,
    ConfigSource,
    GatewayConfig,
    load_config_source,
    parse_config_source,
    read_config_stream,
    refuse_empty,
)
from gateway.errors import ConfigError, ConfigProblem
from gateway.wording import counted

EXIT_INVALID = 2
STDIN = "-"
STDIN_NAME = "<stdin>"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("check-config", help="validate a config file; exit 2 on error")
    parser.add_argument(
        "file", type=Path, help=f"the gateway config (YAML) to check; {STDIN} reads it from standard input"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=variable,
        metavar="NAME=VALUE",
        help=f"a variable the config expands, over the environment (repeatable): {', '.join(EXPANDABLE)}",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="accept a non-loopback API address without bearer tokens, as serve --insecure does",
    )
    parser.add_argument(
        "--models",
        type=Path,
        metavar="DIR",
        help="also check each camera's model, pinned version and rule labels against the model "
        "repository DIR, as serve does at start (scanned, nothing loaded)",
    )
    parser.set_defaults(handler=run)


def variable(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` with NAME one of the variables config expansion knows."""
    name, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    if name not in EXPANDABLE:
        raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(EXPANDABLE)}")
    return name, value


def run(arguments: argparse.Namespace) -> int:
    environment = {**os.environ, **dict(arguments.env)}
    try:
        config, source = load_config_argument(arguments.file, environment)
        check_startup(config, source, insecure=arguments.insecure, on_this_machine=not arguments.env)
        if arguments.models is not None:
            check_models(config, source, arguments.models)
    except ConfigError as exc:
        print_problems(exc.problems)
        if looks_like_audit_config(exc.problems):
            print(
                f"{arguments.file}: this looks like the audit service's config: "
                f"check it with edge-gateway audit check-config --config {arguments.file}",
                file=sys.stderr,
            )
        return EXIT_INVALID
    print(f"{source.name}: ok ({counted(len(config.cameras), 'camera')}, device {config.device_id})")
    return 0


AUDIT_KEYS = frozenset({"database", "keys_file"})
"""Keys of the audit service's config a gateway config's user would not write by mistake (its
``client_id`` or ``metrics_port`` might be, meant for ``mqtt:``)."""


def looks_like_audit_config(problems: list[ConfigProblem]) -> bool:
    """Whether the file's top level holds keys only the audit service's config has (``keys_file``,
    ``database``): checked as a gateway config, each was "unknown key", and nothing said which
    command checks it."""
    return any(
        problem.path in AUDIT_KEYS and problem.message.startswith("unknown key") for problem in problems
    )


def load_config_argument(path: Path, environment: dict[str, str]) -> tuple[GatewayConfig, ConfigSource]:
    if str(path) != STDIN:
        return load_config_source(path, environment)
    if sys.stdin is None:  # started with standard input closed (``<&-``)
        raise ConfigError([ConfigProblem(STDIN_NAME, None, "", "cannot read: standard input is closed")])
    text = read_config_stream(sys.stdin.buffer, STDIN_NAME)
    refuse_empty(text, STDIN_NAME)
    config: GatewayConfig
    config, source = parse_config_source(text, STDIN_NAME, GatewayConfig, environment)
    return config, source
