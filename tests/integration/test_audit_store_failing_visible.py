"""``audit serve`` whose store writes fail says so where an operator looks, until a store succeeds.

With every write failing (a table gone, zeroed pages, a file it may not write) the subscriber retried
for ever and logged each retry, losing nothing (acknowledgements held back), but ``GET /v1/status``
answered ``{"healthy": true, "problems": []}``, and STATUS= and the metrics said nothing either. Now
the status names the failure (since when, what waits, the error) and
``edge_gateway_audit_store_failing`` is 1 until a store succeeds. The real command in a child process,
a real mosquitto, SQLite.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.integration.audit_serve_process import WAIT_S, Service
from tests.support.audit_device import AlertChain, MqttDevice, wait_until
from tests.support.mosquitto import Mosquitto

KEY = bytes(range(32))
DEVICE = "box-1"
STORE_FAILING = "edge_gateway_audit_store_failing "


def status(service: Service) -> dict[str, Any]:
    url = f"http://127.0.0.1:{service.http_port}/v1/status"
    with urllib.request.urlopen(url, timeout=10) as answer:
        found: dict[str, Any] = json.loads(answer.read())
    return found


def rename_alerts_table(service: Service, old: str, new: str) -> None:
    with closing(sqlite3.connect(service.database, timeout=10)) as other:
        other.execute(f"ALTER TABLE {old} RENAME TO {new}")
        other.commit()


def test_a_store_that_fails_is_a_problem_until_a_store_succeeds(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        service = Service(tmp_path, broker.url)
        service.write_keys({DEVICE: KEY})
        with service.running():
            assert status(service) == {"healthy": True, "problems": []}
            assert service.metric(STORE_FAILING) == 0

            # Given the alerts table gone from under the running service
            rename_alerts_table(service, "audit_alerts", "audit_alerts_aside")
            # When a device sends two alerts
            device = MqttDevice(broker.url, AlertChain(DEVICE, KEY))
            try:
                device.publish(range(1, 3))

                # Then the status names the failure and what waits, and the gauge is 1
                wait_until(lambda: bool(status(service)["problems"]), WAIT_S)
                answer = status(service)
                assert answer["healthy"] is False
                (problem,) = answer["problems"]
                assert problem.startswith("cannot store since "), problem
                assert "not acknowledged (the broker keeps them; none is lost)" in problem
                assert "audit_alerts" in problem
                assert service.metric(STORE_FAILING) == 1

                # When the table is back, the retry stores both and the problem is gone
                rename_alerts_table(service, "audit_alerts_aside", "audit_alerts")
                wait_until(lambda: status(service) == {"healthy": True, "problems": []}, WAIT_S)
                assert service.metric(STORE_FAILING) == 0
                assert service.device(DEVICE)["last_seq"] == 2
            finally:
                device.close()
