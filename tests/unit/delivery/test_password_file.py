from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import MqttConfig
from gateway.errors import BrokerError
from gateway.protocol.mqtt_link import read_password


def test_the_password_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "mqtt-password"
    path.write_text("s3cret\n")
    assert read_password(MqttConfig(url="mqtt://127.0.0.1", password_file=path)) == "s3cret"


@pytest.mark.parametrize(
    ("content", "problem"), [("", "is empty"), ("\n", "is empty"), (None, "cannot read")]
)
def test_an_empty_or_missing_password_file_is_a_clear_error(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "mqtt-password"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BrokerError, match=f"mqtt.password_file {path}: {problem}"):
        read_password(MqttConfig(url="mqtt://127.0.0.1", password_file=path))
