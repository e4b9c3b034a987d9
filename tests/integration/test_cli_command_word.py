"""The command a ``edge-gateway`` command line names, read before the imports (``cli.command_of``),
as the argument parser reads it later: only ``serve`` holds SIGHUP back while it starts."""

from __future__ import annotations

import pytest

from gateway.cli import command_of


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["serve", "--config", "x"], "serve"),
        (["--log-level", "debug", "serve"], "serve"),
        (["--log-format=json", "serve"], "serve"),
        (["--log-format", "serve", "audit"], "audit"),
        (["audit", "serve"], "audit"),
        (["check-config", "serve"], "check-config"),
        (["--help"], None),
    ],
)
def test_the_command_is_read_before_the_imports_as_the_parser_reads_it(
    argv: list[str], command: str | None
) -> None:
    assert command_of(argv) == command
