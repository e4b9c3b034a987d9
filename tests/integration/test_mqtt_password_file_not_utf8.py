"""An MQTT password file with bytes that are not UTF-8 (saved as Latin-1, say) is refused by ``serve``
and by ``audit serve`` naming the file, the line and the column (byte) where they start, as the
config's and the tokens file's errors do, each with the exit status it gives any bad file. Before,
both said the decoder's "can't decode byte 0xe9 in position 15", a count of bytes from the start of
the file. ``serve`` and ``check-config`` refuse it, or an empty one, before anything starts (exit 2,
as for a tokens file): ``check-config``, the unit's ``ExecStartPre``, passed it, and ``serve`` read it
only once the cameras and models were up, then exited 1. Runs the real ``edge-gateway``; nothing is
reached: the file is refused before connecting."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.command import edge_gateway, write_config

LATIN_1 = "first line\nsecr\u00e9t\n".encode("latin-1")
NOT_UTF8 = "mqtt.password_file: cannot read: the byte (column 5) is not UTF-8: save the file as UTF-8"
BROKER = "mqtt://127.0.0.1:1"  # nothing listens: the file is refused before any connection
EXIT_REFUSED_CONFIG = 2
EXIT_AUDIT_ERROR = 2


def password_file(directory: Path) -> Path:
    path = directory / "mqtt-password"
    path.write_bytes(LATIN_1)
    return path


@pytest.mark.parametrize("command", [("serve",), ("check-config",)], ids=["serve", "check-config"])
def test_serve_and_check_config_name_the_line_and_column_of_a_password_file_that_is_not_utf8(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    password = password_file(tmp_path)
    config = write_config(
        tmp_path / "gateway.yaml",
        mqtt={"url": BROKER, "username": "gateway", "password_file": str(password)},
    )

    arguments = (*command, "--config", str(config)) if command == ("serve",) else (*command, str(config))
    result = edge_gateway(*arguments, cwd=tmp_path)

    assert result.returncode == EXIT_REFUSED_CONFIG, result.stderr
    assert f"{password}:2: {NOT_UTF8}\n" in result.stderr
    assert "position" not in result.stderr


def test_check_config_refuses_an_empty_password_file_as_serve_would(tmp_path: Path) -> None:
    # The installer lays down an empty credential to be filled in
    password = tmp_path / "mqtt-password"
    password.write_bytes(b"")
    config = write_config(
        tmp_path / "gateway.yaml",
        mqtt={"url": BROKER, "username": "gateway", "password_file": str(password)},
    )

    result = edge_gateway("check-config", str(config), cwd=tmp_path)

    assert result.returncode == EXIT_REFUSED_CONFIG, result.stderr
    assert f"{password}: mqtt.password_file: is empty\n" in result.stderr


@pytest.mark.parametrize("username", ["audit", None], ids=["with a user name", "without"])
def test_audit_serve_names_the_line_and_column_of_a_password_file_that_is_not_utf8(
    tmp_path: Path, username: str | None
) -> None:
    # Given a password file saved as Latin-1 (read by the subscriber's connection when a user name is
    # set, by the status connection in any case)
    password = password_file(tmp_path)
    keys = tmp_path / "keys.yaml"
    keys.write_text("{}\n", encoding="utf-8")
    config = tmp_path / "audit.yaml"
    mqtt = {"url": BROKER, "password_file": str(password), **({"username": username} if username else {})}
    config.write_text(
        yaml.safe_dump({"mqtt": mqtt, "keys_file": str(keys), "database": f"sqlite:///{tmp_path}/audit.db"}),
        encoding="utf-8",
    )

    result = edge_gateway("audit", "serve", "--config", str(config), cwd=tmp_path)

    assert result.returncode == EXIT_AUDIT_ERROR, result.stderr
    assert f"audit: {password}:2: {NOT_UTF8}\n" in result.stderr
    assert "position" not in result.stderr
