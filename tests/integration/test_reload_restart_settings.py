"""A SIGHUP whose file changes a setting only a restart applies (``device_id``, ``state_dir``,
``http``, ``mqtt``) keeps the running values, names each such change in a warning and in
``/v1/status``, and applies the rest. Before, the reload logged "reloaded" and said nothing, and
``/v1/status`` reported the new device id while the outbox went on signing alerts under the old.
The tokens file's own tokens are not such a setting: ``test_reload_tokens`` shows them applied.
Runs the real ``edge-gateway``."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.command import write_config
from tests.support.serve import Process


def status(port: int, token: str | None = None) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/status")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        body: dict[str, Any] = json.load(response)
    return body


def test_a_reload_keeps_restart_only_settings_and_names_each(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a gateway serving a config with an open API and no MQTT
    config = write_config(tmp_path / "gateway.yaml", "before")
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    port = gateway.api_port()
    tokens = tmp_path / "tokens"
    tokens.write_text("a-token\n", encoding="utf-8")

    # When the file changes the device id, the state directory, the API's tokens and adds a broker,
    # along with a reloadable setting, and the gateway is told
    write_config(
        config,
        "after",
        state_dir=str(tmp_path / "other-state"),
        http={"port": 0, "tokens_file": str(tokens)},
        mqtt={"url": "mqtt://user:secret@127.0.0.1:1883"},
        health={"camera_down_after_s": 5},
    )
    logged = len(gateway.output())
    gateway.signal(signal.SIGHUP)
    gateway.wait_for_log("reloaded: models re-scanned", timeout_s=60, after=logged)

    # Then the warning names each setting that waits for a restart, credentials not shown
    output = gateway.output()[logged:]
    expected = (
        "restart to apply device_id before -> after, "
        f"state_dir {tmp_path / 'state'} -> {tmp_path / 'other-state'}, "
        f"http.tokens_file none -> {tokens}, mqtt added; until then the gateway keeps running with "
        "the values it was started with"
    )
    assert f"WARNING gateway.pipeline.gateway: {expected}" in output, output
    assert "secret" not in output
    # And the gateway runs as started: the same device, the API still open without a token
    reported = status(port)
    assert reported["device_id"] == "before"
    assert expected in reported["problems"]

    # When the file is put back, then nothing waits for a restart any more
    write_config(config, "before")
    logged = len(gateway.output())
    gateway.signal(signal.SIGHUP)
    gateway.wait_for_log("reloaded: models re-scanned", timeout_s=60, after=logged)
    assert "restart to apply" not in gateway.output()[logged:]
    assert status(port)["problems"] == []
    assert gateway.terminate() == 0, gateway.output()
