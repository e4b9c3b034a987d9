"""``edge-gateway audit check-config --config FILE`` on real files: what ``audit serve`` would refuse
the config for at start, each on its own line, without starting it; and the gateway's
``check-config``, given an audit config, saying which command checks it (it called its keys unknown
and said no more)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import EXPANDABLE

EXAMPLE = Path(__file__).resolve().parents[2] / "systemd" / "audit.example.yaml"

KEY = "ab" * 32


def write_config(directory: Path, **changes: str) -> Path:
    """An audit config of the files made here (a keys file, a password file), with ``changes``
    replacing lines that start with their key."""
    (directory / "keys").write_text(f"gate-01: {KEY}\ngate-02: [{KEY}, {'cd' * 32}]\n")
    (directory / "password").write_text("secret\n")
    lines = {
        "mqtt": "mqtt: {url: mqtt://127.0.0.1:1883, username: audit, password_file: password}",
        "database": "database: sqlite:///audit.db",
        "keys_file": "keys_file: keys",
        **changes,
    }
    path = directory / "audit.yaml"
    path.write_text("\n".join(lines.values()) + "\n")
    return path


def test_a_config_audit_serve_would_start_with_is_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the files are named relative to where the service runs
    config = write_config(tmp_path)
    assert main(["audit", "check-config", "--config", str(config)]) == 0
    assert capsys.readouterr().out == (
        f"{config}: ok (keys of 2 devices, SQLite database, broker mqtt://127.0.0.1:1883)\n"
    )
    assert not (tmp_path / "audit.db").exists()  # nothing was opened but files


def test_each_problem_serve_would_stop_at_is_named_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").write_text("")
    (tmp_path / "bad-keys").write_text("gate-01: not-hex\n")
    config = write_config(
        tmp_path,
        mqtt="mqtt: {url: mqtt://127.0.0.1:1883, username: audit, password_file: empty}",
        database="database: mysql://audit:hunter2@db/audit",
        keys_file="keys_file: bad-keys",
        http="http: {host: 0.0.0.0, port: 8081}",
    )
    assert main(["audit", "check-config", "--config", str(config)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        # the URL's credentials are left out
        f"{config}: database: unsupported database URL 'mysql://***@db/audit': use sqlite:///path or "
        "postgresql://",
        f'{config}: keys_file: bad-keys: the key of device "gate-01" is not hex',
        f"{config}: mqtt: empty: mqtt.password_file: is empty",
        f"{config}: http.host: 0.0.0.0 is not a loopback address: set http.tokens_file",
    ]


def test_a_file_that_is_no_audit_config_is_named_as_serve_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text("database: sqlite:///audit.db\n")
    assert main(["audit", "check-config", "--config", str(config)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{config}:1: mqtt: is required",
        f"{config}:1: keys_file: is required",
    ]


def test_the_gateways_check_config_given_an_audit_config_names_the_command_that_checks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["check-config", str(config)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"{config}: this looks like the audit service's config: check it with "
        f"edge-gateway audit check-config --config {config}"
    )
    # while a gateway config's unknown key says nothing of the audit service
    (tmp_path / "gateway.yaml").write_text("client_id: x\n")
    assert main(["check-config", str(tmp_path / "gateway.yaml")]) == 2
    assert "audit" not in capsys.readouterr().err


def test_the_ok_line_names_the_broker_without_its_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, mqtt="mqtt: {url: 'mqtt://audit:hunter2@127.0.0.1:1883'}")
    assert main(["audit", "check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert out.endswith("broker mqtt://***@127.0.0.1:1883)\n"), out


def test_the_shipped_example_is_checked_before_install_with_env(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a shell outside systemd: none of the service directories is set
    for name in EXPANDABLE:
        monkeypatch.delenv(name, raising=False)
    check = ["audit", "check-config", "--config", str(EXAMPLE)]

    # When the example is checked as is, then the unset directory is named with its line
    assert main(check) == 2
    assert "audit.example.yaml:6: mqtt.password_file: ${CREDENTIALS_DIRECTORY} is not set" in (
        capsys.readouterr().err
    )

    # When the unit's directory is given, then it passes without reading the files, not there yet
    assert main([*check, "--env", "CREDENTIALS_DIRECTORY=/etc/edge-gateway/credentials"]) == 0
    assert not os.path.exists("/etc/edge-gateway/audit-device-keys")
    assert capsys.readouterr().out == (
        f"{EXAMPLE}: ok (files not read, SQLite database, broker mqtts://broker.example:8883)\n"
    )


def test_with_env_the_rules_that_need_no_file_still_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = ["--env", "CREDENTIALS_DIRECTORY=/etc/edge-gateway/credentials"]
    # A keys file that is not there is not looked for; a database of another kind is still named
    config = write_config(
        tmp_path,
        keys_file="keys_file: ${CREDENTIALS_DIRECTORY}/absent",
        database="database: mysql://db/audit",
        http="http: {host: 0.0.0.0, port: 8081}",
    )
    assert main(["audit", "check-config", "--config", str(config), *given]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{config}: database: unsupported database URL 'mysql://db/audit': use sqlite:///path or postgresql://",
        f"{config}: http.host: 0.0.0.0 is not a loopback address: set http.tokens_file",
    ]
    # A tokens file named counts as holding tokens: it is read on the box
    config = write_config(
        tmp_path,
        http="http: {host: 0.0.0.0, port: 8081, tokens_file: '${CREDENTIALS_DIRECTORY}/audit-tokens'}",
    )
    assert main(["audit", "check-config", "--config", str(config), *given]) == 0
    # And a variable config expansion does not know is refused by name
    with pytest.raises(SystemExit) as refused:
        main(["audit", "check-config", "--config", str(config), "--env", "HOME=/root"])
    assert refused.value.code == 2
    assert "'HOME' is not one of CREDENTIALS_DIRECTORY" in capsys.readouterr().err
