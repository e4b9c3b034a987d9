"""``edge-gateway audit serve`` run as a child process for the tests that need the process itself
(its signals, its log, its metrics port), with a keys file the test rewrites."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.audit_device import wait_until
from tests.support.mosquitto import free_port

WAIT_S = 30.0


class Service:
    """``edge-gateway audit serve`` in a child process, its log in a file."""

    def __init__(
        self,
        directory: Path,
        broker_url: str,
        *,
        database_url: str | None = None,
        replay_after_s: float = 5.0,
    ) -> None:
        """On ``database_url``, by default a SQLite store in ``directory``."""
        self.keys_file = directory / "keys.yaml"
        self.database = directory / "audit.db"
        self.database_url = database_url or f"sqlite:///{self.database}"
        self.log_file = directory / "audit.log"
        self.metrics_port = free_port()
        self.http_port = free_port()
        self.config = directory / "audit.yaml"
        self.config.write_text(
            f"mqtt: {{url: '{broker_url}', reconnect_min_s: 1, reconnect_max_s: 1}}\n"
            f"database: '{self.database_url}'\n"
            f"keys_file: '{self.keys_file}'\n"
            f"metrics_host: 127.0.0.1\nmetrics_port: {self.metrics_port}\n"
            f"http: {{host: 127.0.0.1, port: {self.http_port}}}\n"
            f"replay_after_s: {replay_after_s}\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def write_keys(self, keys: Mapping[str, bytes]) -> None:
        self.keys_file.write_text("".join(f"{device}: {key.hex()}\n" for device, key in keys.items()))

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, count: int = 1) -> None:
        wait_until(lambda: self.log().count(text) >= count, WAIT_S)

    @contextmanager
    def running(self) -> Iterator[subprocess.Popen[bytes]]:
        subscribed = self.log().count("audit: subscribed to") if self.log_file.exists() else 0
        with self.log_file.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "audit", "serve", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.process = process
        try:
            self.wait_for_log("audit: subscribed to", subscribed + 1)
            yield process
            process.send_signal(signal.SIGTERM)
            assert process.wait(WAIT_S) == 0, self.log()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)

    def reload(self, text: str) -> None:
        """SIGHUP, then wait for the log line ``text`` that answers it (one more than before)."""
        assert self.process is not None
        before = self.log().count(text)
        self.process.send_signal(signal.SIGHUP)
        self.wait_for_log(text, before + 1)
        assert self.process.poll() is None, self.log()

    def metric(self, line_start: str) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
        return values[0] if values else 0.0

    def device(self, device_id: str) -> dict[str, Any]:
        """``/v1/devices/{device_id}`` of the service's own fleet API."""
        url = f"http://127.0.0.1:{self.http_port}/v1/devices/{device_id}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            found: dict[str, Any] = json.loads(answer.read())
        return found

    def held(self, device_id: str) -> int:
        """Images held for ``device_id`` in the SQLite store."""
        with sqlite3.connect(self.database) as connection:
            ((count,),) = connection.execute(
                "SELECT COUNT(*) FROM audit_evidence WHERE device_id = ? AND verified = 0", (device_id,)
            )
        return int(count)
