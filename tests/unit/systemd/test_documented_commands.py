"""The command lines the install notes and the units give an operator work with the CLI as it is:
each parses, a documented SQLite store is where the notes say, and the documented way to run a
one-shot command on an installed box sets every directory the installed config names."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gateway.audit.database import open_database
from gateway.cli import build_parser
from gateway.config import load_config
from gateway.errors import AuditError

REPOSITORY = Path(__file__).resolve().parents[3]
DOCUMENTS = (REPOSITORY / "README.md", REPOSITORY / "systemd" / "README.md")
UNITS = tuple(sorted((REPOSITORY / "systemd").glob("*.service")))
SHELL_BLOCK = re.compile(r"```(sh|console)\n(.*?)```", re.DOTALL)
ASSIGNMENT = re.compile(r"[A-Z_]+=")


def shell_lines(document: Path) -> list[str]:
    """The commands of a markdown file's sh blocks and the ``$`` lines of its console blocks."""
    lines = []
    for kind, body in SHELL_BLOCK.findall(document.read_text(encoding="utf-8")):
        for line in body.replace("\\\n", " ").splitlines():
            if kind == "sh":
                lines.append(line)
            elif line.startswith("$ "):
                lines.append(line.removeprefix("$ "))
    return lines


def split_command(line: str) -> tuple[dict[str, str], list[str]] | None:
    """(the ``env`` assignments before it, the arguments) of the edge-gateway command in a line."""
    tokens = shlex.split(line, comments=True)
    for index, token in enumerate(tokens):
        named = token == "edge-gateway" or token.endswith("/bin/edge-gateway")
        if named and (index == 0 or tokens[index - 1] != "-u"):
            prefix = tokens[:index]
            environment = dict(
                assignment.split("=", 1) for assignment in prefix if ASSIGNMENT.match(assignment)
            )
            return environment, tokens[index + 1 :]
    return None


def documented_commands() -> list[tuple[str, dict[str, str], list[str]]]:
    commands = []
    for document in DOCUMENTS:
        for line in shell_lines(document):
            if (command := split_command(line)) is not None:
                commands.append((f"{document.relative_to(REPOSITORY)}: {line}", *command))
    for unit in UNITS:
        for line in unit.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            command = split_command(value) if key in {"ExecStartPre", "ExecStart", "ExecReload"} else None
            if command is not None:
                commands.append((f"{unit.name}: {line}", *command))
    return commands


def test_the_notes_and_units_hold_commands_of_every_kind() -> None:
    # The checks below would prove nothing if the extraction found nothing.
    verbs = {" ".join(arguments[:2]) for _, _, arguments in documented_commands()}
    assert {"serve --config", "audit serve", "audit verify", "enroll --camera"} <= verbs


@pytest.mark.parametrize(
    ("where", "arguments"),
    [pytest.param(where, arguments, id=where) for where, _, arguments in documented_commands()],
)
def test_every_documented_command_line_parses(
    where: str, arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        build_parser().parse_args(arguments)
    except SystemExit:
        pytest.fail(f"{where}\n{capsys.readouterr().err}")


def test_a_documented_sqlite_store_is_an_absolute_path() -> None:
    # sqlite:///var/lib/... is var/lib/... below whatever directory the reader runs in.
    urls = [
        arguments[arguments.index("--db") + 1]
        for _, _, arguments in documented_commands()
        if "--db" in arguments and arguments[arguments.index("--db") + 1].startswith("sqlite:")
    ]
    assert urls
    for url in urls:
        with pytest.raises(AuditError, match=r"^no audit database at /var/lib/"):
            open_database(url, create=False)


def test_the_documented_enroll_on_an_installed_box_sets_what_the_installed_config_needs() -> None:
    # Given the enroll command the service notes give, and the config install-service.sh installs
    enrolls = [
        (environment, arguments)
        for where, environment, arguments in documented_commands()
        if where.startswith("systemd/README.md") and arguments[0] == "enroll"
    ]
    assert enrolls, "systemd/README.md shows no enroll command"
    for environment, arguments in enrolls:
        parsed = build_parser().parse_args(arguments)
        assert parsed.config == Path("/etc/edge-gateway/gateway.yaml")

        # When the example config is loaded with only the variables the command sets
        config = load_config(REPOSITORY / "systemd" / "gateway.example.yaml", environment)

        # Then it loads, and the model lands in the service's state directory
        assert config.models.repository == Path(environment["STATE_DIRECTORY"]) / "models"
