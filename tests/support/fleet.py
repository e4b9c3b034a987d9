"""The parts of a fleet for the fleet test and benchmark, each a real process: ``audit serve``
instances sharing one ``$share`` group (``AuditInstance``) and groups of simulated gateways
(``DeviceGroup``, running ``tests.support.fleet_devices``), with a keys file for the devices.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from gateway.delivery.signing_key import load_or_create_key
from tests.support.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


def write_keys(state_dir: Path, device_ids: Iterable[str], path: Path, *, wrong: Iterable[str] = ()) -> None:
    """Create each device's signing key in ``state_dir/<device_id>`` and write the keys file; the
    devices in ``wrong`` get a key there that is not theirs (their alerts fail the signature check)."""
    forged = set(wrong)
    keys = {}
    for device_id in device_ids:
        key = load_or_create_key(state_dir / device_id)
        keys[device_id] = bytes(byte ^ 0x5A for byte in key).hex() if device_id in forged else key.hex()
    path.write_text(json.dumps(keys))


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process and its reaped children (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class AuditInstance:
    """``edge-gateway audit serve`` in its own process, with the HTTP API on a free loopback port."""

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        broker: str,
        database: str,
        keys_file: Path,
        tokens_file: Path | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.log_file = directory / f"{name}.log"
        self.config_file = directory / f"{name}.yaml"
        config: dict[str, Any] = {
            "mqtt": {"url": broker, "reconnect_min_s": 0.5, "reconnect_max_s": 2.0},
            "database": database,
            "keys_file": str(keys_file),
            "client_id": f"audit-{name}",
            "replay_after_s": 2.0,
            "http": {"host": "127.0.0.1", "port": self.port}
            | ({"tokens_file": str(tokens_file)} if tokens_file else {}),
            **(extra or {}),
        }
        self.config_file.write_text(json.dumps(config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start and wait until it is subscribed and its HTTP API answers."""
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "audit", "serve", "--config", str(self.config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"audit: subscribed" not in self.log_file.read_bytes()[offset:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"audit {self.name} did not subscribe:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: nothing stored or acknowledged after this; its session stays at the broker."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout_s: float = 60.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


class DeviceGroup:
    """One process of simulated gateways (``tests.support.fleet_devices``); reads its stdout lines."""

    def __init__(self, state_dir: Path, broker: str, device_ids: list[str], *options: str) -> None:
        self.device_ids = device_ids
        self.log_file = state_dir / f"group-{device_ids[0]}.log"
        state_dir.mkdir(parents=True, exist_ok=True)
        self.lines: list[str] = []
        self.seen_at: dict[str, float] = {}
        """Each line's first word -> when (monotonic) it was first read."""
        self._changed = threading.Condition()
        with self.log_file.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "tests.support.fleet_devices", "--state-dir", str(state_dir),
                    "--broker", broker, "--devices", ",".join(device_ids), *options,
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=ROOT,
            )  # fmt: skip
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode().strip()
            with self._changed:
                self.lines.append(line)
                self.seen_at.setdefault(line.partition(" ")[0], time.monotonic())
                self._changed.notify_all()
        with self._changed:
            self.lines.append("<exit>")
            self._changed.notify_all()

    def wait_for(self, prefix: str, timeout_s: float) -> str:
        """The first line starting with ``prefix``; TimeoutError (or RuntimeError on exit) otherwise."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = next((line for line in self.lines if line.startswith(prefix)), None)
                if found is not None:
                    return found
                if "<exit>" in self.lines:
                    log = self.log_file.read_text(errors="replace")[-3000:]
                    raise RuntimeError(
                        f"device group exited (code {self.process.poll()}) before {prefix!r}:\n{log}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {prefix!r} from the device group in {timeout_s} s")
                self._changed.wait(remaining)

    def drained(self, timeout_s: float) -> dict[str, int]:
        """Each device's last seq, once every alert is acknowledged by the broker."""
        return {
            key: int(value) for key, value in json.loads(self.wait_for("drained ", timeout_s)[8:]).items()
        }

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
