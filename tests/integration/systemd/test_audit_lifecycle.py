"""``edge-gateway audit serve`` as edge-gateway-audit.service runs it: the shipped example config,
secrets from $CREDENTIALS_DIRECTORY, a real mosquitto with a password, READY, a SIGHUP (the unit's
ExecReload: RELOADING=1, then READY=1) that reads an edit of the keys file, then STOPPING and exit 0
on SIGTERM, with the SQLite store in the working directory (the unit's state directory).

The keys file was handed over as a credential, which systemd copies once at start: a reload read
that copy, so an edit of the keys was seen only after a restart. The example config now names the
file where install-service.sh installs it, read in place by the service's group."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import load_audit_config
from tests.integration.systemd.notify_listener import NotifyListener
from tests.support.mosquitto import Mosquitto

REPOSITORY = Path(__file__).resolve().parents[3]
EXAMPLE = REPOSITORY / "systemd" / "audit.example.yaml"
UNIT = REPOSITORY / "systemd" / "edge-gateway-audit.service"
INSTALLED_KEYS = "/etc/edge-gateway/audit-device-keys"


def test_audit_serve_notifies_and_stops_cleanly(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "audit-mqtt-password").write_text("s3cret", encoding="utf-8")
    keys = tmp_path / "audit-device-keys"
    keys.write_text(f"gateway-01: {'ab' * 32}\n", encoding="utf-8")
    state = tmp_path / "state"
    state.mkdir()
    with Mosquitto(tmp_path / "broker", users={"audit": "s3cret"}) as broker:
        config = tmp_path / "audit.yaml"
        config.write_text(
            EXAMPLE.read_text(encoding="utf-8")
            .replace("mqtts://broker.example:8883", broker.url)
            .replace(INSTALLED_KEYS, str(keys)),
            encoding="utf-8",
        )
        with NotifyListener(tmp_path / "notify.sock") as listener:
            environ = {
                **os.environ,
                "NOTIFY_SOCKET": listener.environment_value,
                "CREDENTIALS_DIRECTORY": str(credentials),
            }
            log = tmp_path / "audit.log"
            with log.open("wb") as output:
                process = subprocess.Popen(
                    [sys.executable, "-m", "gateway", "audit", "serve", "--config", str(config)],
                    cwd=state,
                    env=environ,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            try:
                ready, _ = listener.wait_for("READY", 60.0)
                assert ready.fields["READY"] == "1"
                # The broker takes no anonymous clients: subscribing proves the credential arrived.
                status = ""
                while not status.startswith("subscribed to"):
                    notification, _ = listener.wait_for("STATUS", 30.0)
                    status = notification.fields["STATUS"]
                # A reload (the unit's ExecReload) reads the keys file again, edited since the start,
                # and reports it, then runs on
                keys.write_text(f"gateway-01: {'ab' * 32}\ngateway-02: [{'cd' * 32}, {'ef' * 32}]\n")
                process.send_signal(signal.SIGHUP)
                reloading, _ = listener.wait_for("RELOADING", 30.0)
                assert reloading.fields["RELOADING"] == "1"
                assert int(reloading.fields["MONOTONIC_USEC"]) > 0
                ready, _ = listener.wait_for("READY", 30.0)
                assert process.poll() is None
                process.send_signal(signal.SIGTERM)
                listener.wait_for("STOPPING", 10.0)
                assert process.wait(10.0) == 0, log.read_text(encoding="utf-8")
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(10)
    assert (state / "audit.db").exists()
    text = log.read_text(encoding="utf-8")
    assert "Traceback" not in text
    assert "audit: keys reloaded from" in text
    assert "2 devices; added gateway-02" in text


def test_the_unit_s_reload_reads_the_keys_file_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the example config under the unit's environment
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))
    config = load_audit_config(EXAMPLE)
    # Then its keys file is the installed one, not a copy systemd makes at start
    assert config.keys_file == Path(INSTALLED_KEYS)
    assert not str(config.keys_file).startswith(str(tmp_path / "credentials"))
    # And install-service.sh installs it for the service's group to read (as audit.yaml)
    script = (REPOSITORY / "build" / "install-service.sh").read_text(encoding="utf-8")
    assert "audit_keys=$config_dir/audit-device-keys" in script
    assert re.search(r'install -m 0640 -o 0 -g "\$audit_gid" .* "\$audit_keys"', script)
    # And the unit still loads it as the credential an older audit.yaml names, from that one file
    loaded = [
        line for line in UNIT.read_text(encoding="utf-8").splitlines() if line.startswith("LoadCredential=")
    ]
    assert f"LoadCredential=audit-device-keys:{INSTALLED_KEYS}" in loaded


def test_the_audit_unit_reloads_with_sighup() -> None:
    unit = EXAMPLE.parent / "edge-gateway-audit.service"
    lines = unit.read_text(encoding="utf-8").splitlines()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines


def test_the_unit_s_reload_check_fails_on_a_broken_keys_file_and_passes_once_mended(
    tmp_path: Path,
) -> None:
    # Given the example config as installed, its credential where systemd puts it
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "audit-mqtt-password").write_text("s3cret", encoding="utf-8")
    keys = tmp_path / "audit-device-keys"
    config = tmp_path / "audit.yaml"
    config.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace(INSTALLED_KEYS, str(keys)), encoding="utf-8"
    )
    # and the command the unit runs before its signal, as the unit writes it
    reload_lines = [
        line.removeprefix("ExecReload=")
        for line in UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith("ExecReload=")
    ]
    check = (
        reload_lines[0]
        .replace("/opt/edge-gateway/venv", sys.prefix)
        .replace("/etc/edge-gateway/audit.yaml", str(config))
    )
    environment = {**os.environ, "CREDENTIALS_DIRECTORY": str(credentials)}

    def reload_check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            check.split(), env=environment, capture_output=True, text=True, timeout=60, check=False
        )

    # When the keys file was edited into one that cannot be used, then the check fails naming it
    keys.write_text(f"gateway-01: {'ab' * 32}\ngateway-02: not-hex\n", encoding="utf-8")
    refused = reload_check()
    assert refused.returncode == 2
    assert refused.stderr == f'{config}: keys_file: {keys}: the key of device "gateway-02" is not hex\n'
    # When it is mended, then the check passes and the signal may follow
    keys.write_text(f"gateway-01: {'ab' * 32}\ngateway-02: {'cd' * 32}\n", encoding="utf-8")
    passed = reload_check()
    assert (passed.returncode, passed.stderr) == (0, "")
    assert passed.stdout.startswith(f"{config}: ok (keys of 2 devices, SQLite database")
