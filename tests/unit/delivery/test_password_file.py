from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit.subscriber_client import read_password as audit_read_password
from gateway.config import MqttConfig
from gateway.errors import AuditError, BrokerError
from gateway.protocol.mqtt_link import read_password

LATIN_1 = "first line\nsecr\u00e9t\n".encode("latin-1")
NOT_UTF8 = "mqtt.password_file: cannot read: the byte (column 5) is not UTF-8: save the file as UTF-8"


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
    with pytest.raises(BrokerError, match=f"^{path}: mqtt.password_file: {problem}"):
        read_password(MqttConfig(url="mqtt://127.0.0.1", password_file=path))


def test_a_password_file_that_is_not_utf8_is_named_by_line_and_column(tmp_path: Path) -> None:
    # Given a password file saved as Latin-1, an "é" on its second line. Before, the decoder's
    # "can't decode byte 0xe9 in position 15" counted bytes from the start of the file.
    path = tmp_path / "mqtt-password"
    path.write_bytes(LATIN_1)
    config = MqttConfig(url="mqtt://127.0.0.1", username="gateway", password_file=path)

    with pytest.raises(BrokerError) as gateway_side:
        read_password(config)
    with pytest.raises(AuditError) as audit_side:
        audit_read_password(config)

    # Then both sides name the file, the line and the column, as the config's errors do
    assert str(gateway_side.value) == f"{path}:2: {NOT_UTF8}"
    assert str(audit_side.value) == f"{path}:2: {NOT_UTF8}"
