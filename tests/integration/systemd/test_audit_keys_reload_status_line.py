"""``systemctl status edge-gateway-audit`` says a keys reload failed, until a reload succeeds.

A SIGHUP whose keys file does not parse ended the reload with READY=1 like any other, and the
status line went back to "subscribed to ...": only the log said the keys were not reloaded. Now the
status line starts with the reason, naming the file, for as long as it holds. The real command in a
child process with ``$NOTIFY_SOCKET`` (``NotifyListener`` stands in for systemd), a real mosquitto.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.integration.systemd.notify_listener import NotifyListener
from tests.support.mosquitto import Mosquitto

WAIT_S = 30.0
KEY = "ab" * 32


def next_status(listener: NotifyListener, wanted: str) -> str:
    """The first STATUS= from now on that holds ``wanted``."""
    status = ""
    while wanted not in status:
        notification, _ = listener.wait_for("STATUS", WAIT_S)
        status = notification.fields["STATUS"]
    return status


def test_a_failed_keys_reload_stays_in_the_status_line_until_one_succeeds(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"box-a: {KEY}\n", encoding="utf-8")
    with Mosquitto(tmp_path / "broker") as broker:
        config = tmp_path / "audit.yaml"
        config.write_text(
            f"mqtt: {{url: '{broker.url}'}}\n"
            f"database: 'sqlite:///{tmp_path}/audit.db'\n"
            f"keys_file: '{keys}'\n",
            encoding="utf-8",
        )
        log = tmp_path / "audit.log"
        with NotifyListener(tmp_path / "notify.sock") as listener, log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "audit", "serve", "--config", str(config)],
                env={**os.environ, "NOTIFY_SOCKET": listener.environment_value},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                next_status(listener, "subscribed to")

                # When the keys file no longer parses and the service is reloaded
                keys.write_text(f"box-a: {KEY}\nbox-b: not-hex\n", encoding="utf-8")
                process.send_signal(signal.SIGHUP)

                # Then the status line says why, naming the file, before the connection's state
                status = next_status(listener, "keys not reloaded")
                assert str(keys) in status
                assert "box-b" in status
                assert status.endswith("; subscribed to $share/audit/edge/+/alerts")

                # When the file is fixed and reloaded, the status line is the connection's alone
                keys.write_text(f"box-a: {KEY}\nbox-b: {'cd' * 32}\n", encoding="utf-8")
                process.send_signal(signal.SIGHUP)
                listener.wait_for("RELOADING", WAIT_S)
                assert next_status(listener, "subscribed to").startswith("subscribed to")
                process.send_signal(signal.SIGTERM)
                assert process.wait(WAIT_S) == 0, log.read_text(encoding="utf-8")
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(10)
    assert "Traceback" not in log.read_text(encoding="utf-8")
