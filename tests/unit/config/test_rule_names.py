"""Two rules of a camera with the same name: the problem names the repeated name and points at the
second one's line, as for repeated zone and line names. Before, it said "rule names must be unique
within a camera" at the camera's line, leaving the reader to find which of up to 256 rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import parse_config
from gateway.errors import ConfigError

CONFIG = (
    "cameras:\n"
    "  - id: gate\n"
    "    url: rtsp://127.0.0.1/gate\n"
    "    model: person-detector\n"
    "    rules:\n"
    "      - {name: intruder, type: presence, labels: [person]}\n"
    "      - {name: loiterer, type: loiter, labels: [person], min_s: 30}\n"
    "      - {name: intruder, type: presence, labels: [car]}\n"
)
PROBLEM = (
    "cameras[0].rules[2].name: rule names must be unique within a camera: 'intruder' is also the name "
    "of rules[0]"
)


def test_a_repeated_rule_name_is_named_at_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG, "g.yaml")
    assert str(caught.value) == f"g.yaml:8: {PROBLEM}"


def test_check_config_names_the_repeated_rule_name_and_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    assert main(["check-config", str(config)]) == 2
    assert f"gateway.yaml:8: {PROBLEM}" in capsys.readouterr().err
