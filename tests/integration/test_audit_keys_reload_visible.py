"""A keys reload of ``audit serve`` that fails is visible where an operator looks, until one succeeds.

SIGHUP with a keys file that does not parse kept the keys in force and said so in the log alone:
``systemctl reload`` reported success, and the fleet API, its page's badge and the metrics all looked
healthy. Now ``GET /v1/status`` lists the problem (naming the file and the error) and the gauge
``edge_gateway_audit_keys_reload_failed`` is 1, until a reload reads a good file. The real command
in a child process, a real mosquitto, SQLite.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.integration.audit_serve_process import WAIT_S, Service
from tests.support.audit_device import wait_until
from tests.support.mosquitto import Mosquitto

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
RELOAD_FAILED = "edge_gateway_audit_keys_reload_failed "


def status(service: Service) -> dict[str, Any]:
    url = f"http://127.0.0.1:{service.http_port}/v1/status"
    with urllib.request.urlopen(url, timeout=10) as answer:
        found: dict[str, Any] = json.loads(answer.read())
    return found


def test_a_failed_keys_reload_is_a_problem_until_a_reload_succeeds(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        service = Service(tmp_path, broker.url)
        service.write_keys({"box-a": KEY_A})
        with service.running():
            assert status(service) == {"healthy": True, "problems": []}
            assert service.metric(RELOAD_FAILED) == 0

            # When the keys file no longer parses and the service is told to reload it
            service.keys_file.write_text(f"box-a: {KEY_A.hex()}\nbox-b: not-hex\n", encoding="utf-8")
            service.reload("audit: keys not reloaded")

            # Then its status names the file and the error, and the gauge says it failed (the
            # log line comes just before both are set)
            wait_until(lambda: bool(status(service)["problems"]), WAIT_S)
            answer = status(service)
            assert answer["healthy"] is False
            (problem,) = answer["problems"]
            assert str(service.keys_file) in problem
            assert "box-b" in problem
            assert "not hex" in problem
            assert "keys of the 1 device in force stay" in problem
            assert service.metric(RELOAD_FAILED) == 1
            # And a device's own answer still works with the keys kept
            assert service.device("box-a")["keys"] == 1

            # When the file is fixed and reloaded, the problem is gone
            service.write_keys({"box-a": KEY_A, "box-b": KEY_B})
            service.reload("audit: keys reloaded")
            wait_until(lambda: status(service) == {"healthy": True, "problems": []}, WAIT_S)
            assert service.metric(RELOAD_FAILED) == 0
            assert service.device("box-b")["keys"] == 1
