"""Paths and ${VARIABLE} expansion: what would silently become another path (the working directory,
a directory named "~" or "$STATE_DIRECTORY") or crash later (a NUL, which every open refuses with a
bare ValueError) is refused at load, naming the key and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import GatewayConfig, load_config, parse_config
from gateway.errors import ConfigError


def problems(text: str, environment: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "g.yaml", GatewayConfig, environment or {})
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('state_dir: ""\n', "g.yaml:1: state_dir: the path is empty: write '.' for the current directory"),
        (
            'models: {repository: "/srv/mo\\0dels"}\n',
            "g.yaml:1: models.repository: '/srv/mo\\x00dels' holds a NUL character, which no path may hold",
        ),
        (
            "state_dir: ~/state\n",
            "g.yaml:1: state_dir: '~/state': '~' is not expanded in the config: write the whole path "
            "(or ${STATE_DIRECTORY} and the other systemd directories)",
        ),
        (
            "http: {tokens_file: ''}\n",
            "g.yaml:1: http.tokens_file: the path is empty: write '.' for the current directory",
        ),
        (
            "mqtt: {url: 'mqtt://broker', signing_key_file: '~edge/key'}\n",
            "g.yaml:1: mqtt.signing_key_file: '~edge/key': '~' is not expanded in the config: write the "
            "whole path (or ${STATE_DIRECTORY} and the other systemd directories)",
        ),
    ],
    ids=["empty", "nul", "tilde", "empty-tokens-file", "tilde-user"],
)
def test_a_path_that_would_mean_another_is_refused(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_ordinary_paths_are_taken_as_written() -> None:
    config: GatewayConfig = parse_config("state_dir: state\nmodels: {repository: ./models~old}\n", "g.yaml")
    assert str(config.state_dir) == "state"
    assert str(config.models.repository) == "models~old"


def test_a_variable_set_but_empty_is_refused() -> None:
    assert problems("state_dir: ${STATE_DIRECTORY}\n", {"STATE_DIRECTORY": ""}) == [
        "g.yaml:1: state_dir: ${STATE_DIRECTORY} is set but empty"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$STATE_DIRECTORY/outbox", "$STATE_DIRECTORY is not expanded: write ${STATE_DIRECTORY}"),
        (
            "${STATE_DIRECTORY/outbox",
            "'${' starts no variable: a variable is written ${NAME}, NAME one of CREDENTIALS_DIRECTORY, "
            "STATE_DIRECTORY, CONFIGURATION_DIRECTORY, RUNTIME_DIRECTORY",
        ),
        (
            "${}/outbox",
            "'${' starts no variable: a variable is written ${NAME}, NAME one of CREDENTIALS_DIRECTORY, "
            "STATE_DIRECTORY, CONFIGURATION_DIRECTORY, RUNTIME_DIRECTORY",
        ),
    ],
    ids=["unbraced", "unclosed", "empty-name"],
)
def test_a_variable_written_as_a_shell_would_is_refused(value: str, expected: str) -> None:
    assert problems(f"state_dir: '{value}'\n", {"STATE_DIRECTORY": "/var/lib/edge-gateway"}) == [
        f"g.yaml:1: state_dir: {expected}"
    ]


def test_a_dollar_that_names_no_variable_is_kept() -> None:
    environment = {"STATE_DIRECTORY": "/var/lib/edge-gateway"}
    text = "state_dir: '${STATE_DIRECTORY}/$STATE_DIRECTORY_OLD/$5'\n"
    config: GatewayConfig = parse_config(text, "g.yaml", GatewayConfig, environment)
    assert str(config.state_dir) == "/var/lib/edge-gateway/$STATE_DIRECTORY_OLD/$5"


def test_a_variable_holding_several_directories_is_refused() -> None:
    environment = {"STATE_DIRECTORY": "/var/lib/edge-gateway:/var/lib/edge-gateway-engines"}
    assert problems("state_dir: ${STATE_DIRECTORY}\n", environment) == [
        "g.yaml:1: state_dir: ${STATE_DIRECTORY} is '/var/lib/edge-gateway:/var/lib/edge-gateway-engines': "
        "several directories joined by ':' (the unit sets more than one); write the one meant"
    ]


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    # Given a config saved as Latin-1, its comment on line 3 holding an "é"
    path = tmp_path / "gateway.yaml"
    path.write_bytes("device_id: box\nstate_dir: state\n# caméra\n".encode("latin-1"))

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert [str(problem) for problem in caught.value.problems] == [
        f"{path}:3: cannot read: byte 0xe9 (column 6) is not UTF-8: save the file as UTF-8"
    ]


def test_a_file_saved_as_utf16_is_named_utf16(tmp_path: Path) -> None:
    # Given a config written by Windows PowerShell 5's ">" (UTF-16 with its byte order mark)
    path = tmp_path / "gateway.yaml"
    path.write_bytes("device_id: box\nstate_dir: state\n".encode("utf-16"))

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert [str(problem) for problem in caught.value.problems] == [
        f"{path}: cannot read: the file is UTF-16 (written by PowerShell's >?); save it as UTF-8"
    ]
