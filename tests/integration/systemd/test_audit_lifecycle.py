"""``edge-gateway audit serve`` as edge-gateway-audit.service runs it: the shipped example config,
secrets from $CREDENTIALS_DIRECTORY, a real mosquitto with a password, READY, a SIGHUP (the unit's
ExecReload: RELOADING=1, then READY=1), then STOPPING and exit 0 on SIGTERM, with the SQLite store
in the working directory (the unit's state directory)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.integration.systemd.notify_listener import NotifyListener
from tests.support.mosquitto import Mosquitto

EXAMPLE = Path(__file__).resolve().parents[3] / "systemd" / "audit.example.yaml"


def test_audit_serve_notifies_and_stops_cleanly(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "audit-mqtt-password").write_text("s3cret", encoding="utf-8")
    (credentials / "audit-device-keys").write_text(f"gateway-01: {'ab' * 32}\n", encoding="utf-8")
    state = tmp_path / "state"
    state.mkdir()
    with Mosquitto(tmp_path / "broker", users={"audit": "s3cret"}) as broker:
        config = tmp_path / "audit.yaml"
        config.write_text(
            EXAMPLE.read_text(encoding="utf-8").replace("mqtts://broker.example:8883", broker.url),
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
                # A reload (the unit's ExecReload) reads the keys again and reports it, then runs on
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
    assert "nothing changed" in text


def test_the_audit_unit_reloads_with_sighup() -> None:
    unit = EXAMPLE.parent / "edge-gateway-audit.service"
    lines = unit.read_text(encoding="utf-8").splitlines()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines
