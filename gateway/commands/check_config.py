"""``edge-gateway check-config FILE``: validate a config for ``ExecStartPre``; exit 2 on error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.config import load_config
from gateway.errors import ConfigError

EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("check-config", help="validate a config file; exit 2 on error")
    parser.add_argument("file", type=Path)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    try:
        config = load_config(arguments.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    print(f"{arguments.file}: ok ({len(config.cameras)} cameras, device {config.device_id})")
    return 0
