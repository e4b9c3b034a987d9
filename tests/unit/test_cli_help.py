"""Every command's ``--help`` is written for the operator: it exits 0, says what the program is
without the developer's docstring markup, and explains every positional argument."""

from __future__ import annotations

import re

import pytest

from gateway.cli import build_parser

COMMANDS = [
    [],
    ["serve"],
    ["check-config"],
    ["audit"],
    ["audit", "serve"],
    ["audit", "verify"],
    ["models"],
    ["models", "list"],
    ["models", "validate"],
    ["enroll"],
    ["build-engine"],
]


def _help(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command) or "edge-gateway")
def test_help_is_for_the_operator(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(command, capsys)

    assert text.startswith(f"usage: edge-gateway {' '.join(command)}".rstrip())
    assert "``" not in text
    assert "only place that" not in text


def test_the_program_says_what_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(_help([], capsys).split())

    assert "Edge inference gateway" in text
    assert "'edge-gateway COMMAND --help'" in text


def test_check_config_explains_its_file_argument(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(["check-config"], capsys)

    explained = r"^  file +the gateway config \(YAML\) to check; - reads it from\s+standard input$"
    assert re.search(explained, text, re.MULTILINE), text
