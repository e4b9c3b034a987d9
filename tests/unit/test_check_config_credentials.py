"""check-config prints no credentials, whatever problem quotes a URL: a problem message is the
config's own text, and the command's output goes to terminals and CI logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import GatewayConfig, parse_config
from gateway.errors import ConfigError

SECRET = "Pw1xSECRET"


def test_a_problem_quoting_a_url_prints_no_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"cameras:\n  - id: a\n    url: file://u:{SECRET}@host\n")
    assert main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "cameras[0].url" in err
    assert SECRET not in err


def test_the_config_problem_itself_holds_no_password() -> None:
    # At the source too: config problems also reach the log and the console's 400s, without the guard.
    with pytest.raises(ConfigError) as raised:
        parse_config(f"cameras:\n  - id: a\n    url: file://u:{SECRET}@host\n", "gateway.yaml", GatewayConfig)
    assert "gateway.yaml:3: cameras[0].url: the camera url file://host has no path" in str(raised.value)
    assert SECRET not in str(raised.value)
