"""A config file with no YAML document in it (nothing, or only blank lines and comments) is refused
by every command that reads one, in one line naming the file, exit 2: ``serve`` at start,
``check-config`` (a file or standard input), ``enroll``, ``models``, and the audit service's
``serve`` and ``check-config``. ``{}`` is a config of every default written on purpose.

Before, such a file loaded as a config of every default: ``serve`` ran a gateway with the host's
name as its device id and no cameras, and ``check-config`` said ok, so the unit's ExecStartPre and
ExecReload passed a file cut short that a reload then refused. Runs the real ``edge-gateway``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.command import edge_gateway

EXIT_CONFIG = 2
EMPTY = "is empty (no YAML document): only blank lines and comments (cut short, or still being written?)"
TEXTS = [
    pytest.param("", id="nothing"),
    pytest.param("\n\n", id="blank-lines"),
    pytest.param("# gateway.yaml, being written\n   \n", id="comments"),
]


@pytest.mark.parametrize("text", TEXTS)
def test_check_config_refuses_an_empty_file_and_standard_input(tmp_path: Path, text: str) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(text, encoding="utf-8")

    checked = edge_gateway("check-config", str(config), cwd=tmp_path)
    piped = edge_gateway("check-config", "-", cwd=tmp_path, stdin=text)

    assert (checked.returncode, checked.stdout, checked.stderr) == (EXIT_CONFIG, "", f"{config}: {EMPTY}\n")
    assert (piped.returncode, piped.stdout, piped.stderr) == (EXIT_CONFIG, "", f"<stdin>: {EMPTY}\n")


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["serve", "--config"], id="serve"),
        pytest.param(["enroll", "--camera", "gate", "--config"], id="enroll"),
        pytest.param(["models", "list", "--config"], id="models-list"),
        pytest.param(["models", "validate", "--config"], id="models-validate"),
        pytest.param(["audit", "serve", "--config"], id="audit-serve"),
        pytest.param(["audit", "check-config", "--config"], id="audit-check-config"),
    ],
)
def test_each_command_that_reads_a_config_refuses_an_empty_one(tmp_path: Path, command: list[str]) -> None:
    # Given a config file a tool truncated and has not written yet
    config = tmp_path / "gateway.yaml"
    config.write_text("# written by ansible\n", encoding="utf-8")

    # When a command reads it
    run = edge_gateway(*command, str(config), cwd=tmp_path)

    # Then it stops at once, saying so in one line naming the file, with nothing started or written
    said = run.stderr.removeprefix("error: ")  # enroll's prefix for every error
    assert (run.returncode, said) == (EXIT_CONFIG, f"{config}: {EMPTY}\n"), run.stdout + run.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gateway.yaml"]


def test_a_config_of_every_default_is_written_on_purpose_as_an_empty_mapping(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("# every default\n{}\n", encoding="utf-8")

    checked = edge_gateway("check-config", str(config), cwd=tmp_path)

    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"{config}: ok (0 cameras, device ")
