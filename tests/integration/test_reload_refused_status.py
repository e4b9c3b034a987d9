"""A reload refused is said where whoever ran ``systemctl reload`` looks: ``/v1/status`` problems and
systemd's status line name the file, when and why, until a reload applies the file (and
``edge_gateway_config_reload_failed`` is 1 in ``/metrics``); and the unit's
ExecReload says of an empty file what the reload says of it.

Before, the refusal was only in the log: the unit's ``kill -HUP`` succeeds whatever the gateway
makes of the file, READY=1 came alone, and ``/v1/status`` stayed healthy, so the new config looked
in force; and ``check-config``, the unit's first ExecReload, said ok of an empty file the reload
then refused. The real ``serve`` under ``NotifyListener`` (standing in for systemd) and the real
``check-config``.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.integration.systemd.notify_listener import Notification, NotifyListener
from tests.integration.test_alert_integrity import metric
from tests.integration.test_reload_restart_settings import status
from tests.integration.test_reload_tokens import RELOADED
from tests.support.command import edge_gateway, write_config
from tests.support.serve import START_WAIT_S, Process

EXIT_CONFIG = 2
EMPTY = "is empty (no YAML document): only blank lines and comments (cut short, or still being written?)"
STAYS = "; the running config stays until a reload applies the file"
REFUSED_AT = r"reload refused at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: "
RELOAD_FAILED = "edge_gateway_config_reload_failed"


def reload(gateway: Process, listener: NotifyListener) -> tuple[str, str]:
    """SIGHUP, then the status line sent with its READY=1 and the one that follows it."""
    gateway.signal(signal.SIGHUP)
    listener.wait_for("RELOADING", START_WAIT_S)
    ready, _ = listener.wait_for("READY", START_WAIT_S)
    after, _ = listener.wait_for("STATUS", START_WAIT_S)
    return status_of(ready), status_of(after)


def status_of(notification: Notification) -> str:
    return notification.fields["STATUS"]


def test_a_refused_reload_is_in_the_status_until_a_reload_applies_the_file(
    tmp_path: Path, processes: list[Process]
) -> None:
    config = write_config(tmp_path / "gateway.yaml", "refused-box")
    written = config.read_text(encoding="utf-8")
    with NotifyListener(tmp_path / "notify.sock") as listener:
        gateway = Process(
            ["serve", "--config", str(config)],
            tmp_path / "gateway.log",
            {"NOTIFY_SOCKET": listener.environment_value},
        )
        processes.append(gateway)
        port = gateway.api_port()
        listener.wait_for("READY", START_WAIT_S)
        metrics = f"http://127.0.0.1:{port}/metrics"
        assert metric(metrics, RELOAD_FAILED) == 0

        # Given the config file emptied by a tool about to write it again
        config.write_text("# written by ansible\n", encoding="utf-8")

        # When the unit's ExecReload checks it, and the gateway is signalled all the same
        checked = edge_gateway("check-config", str(config), cwd=tmp_path)
        said = len(gateway.output())
        ready, after = reload(gateway, listener)

        # Then both say the same of the file: check-config fails, the reload is refused
        problem = f"{config}: {EMPTY}"
        assert (checked.returncode, checked.stderr) == (EXIT_CONFIG, f"{problem}\n")
        assert f"reload refused: {problem}; the running config stays\n" in gateway.output()[said:]
        # And systemd's status line leads with it, naming the file, when and why, and keeps it
        assert re.match(f"{REFUSED_AT}{re.escape(problem + STAYS)}; ", ready), ready
        assert after.startswith(ready.split("; the running config stays")[0]), after
        # And /v1/status lists the same line as a problem
        body = status(port)
        assert body["healthy"] is False
        (listed,) = body["problems"]
        assert ready.startswith(f"{listed}; "), (listed, ready)
        # And /metrics says so to an alert rule
        assert metric(metrics, RELOAD_FAILED) == 1

        # When a file with a mistake is reloaded, the line says that one instead
        config.write_text(written + "colour: red\n", encoding="utf-8")
        ready, _ = reload(gateway, listener)
        assert re.match(f"{REFUSED_AT}{re.escape(str(config))}:\\d+: colour: unknown key", ready), ready
        assert EMPTY not in ready

        # When the file is written whole and reloaded, the refusal is gone from both
        config.write_text(written, encoding="utf-8")
        said = len(gateway.output())
        ready, after = reload(gateway, listener)
        assert RELOADED in gateway.output()[said:]
        assert "reload refused" not in ready + after
        assert status(port)["problems"] == []
        assert metric(metrics, RELOAD_FAILED) == 0
        assert gateway.terminate() == 0, gateway.output()
