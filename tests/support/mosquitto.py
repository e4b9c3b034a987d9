"""A real mosquitto broker for tests: free 127.0.0.1 port, temp dir, persistence, optional auth and TLS.

Usage, as a context manager (always stopped and its directory removed)::

    with Mosquitto(tmp_path) as broker:          # or Mosquitto(tmp_path, users={"gw": "secret"}, tls=True)
        broker.port, broker.url                  # mqtt://127.0.0.1:PORT (mqtts:// with tls)
        broker.restart(); broker.kill(); broker.start()

``max_queued_messages 0`` because mosquitto's default (1000) silently drops QoS 1 messages queued
for an offline subscriber, which would make "zero lost" tests flaky for the wrong reason.
Persistence is on so QoS 1 sessions and their queues survive ``restart()`` (a clean SIGTERM makes
mosquitto write its database; ``kill()`` does not).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing accepted connections on 127.0.0.1:{port} within {timeout_s}s")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A self-signed CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, extra in (("server", ["-extfile", "server.ext"]), ("client", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra)  # fmt: skip
    return TlsFiles(
        ca_file=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


class Mosquitto:
    """One mosquitto process; ``stop()``/``kill()`` then ``start()`` keep the same port and data."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        users: dict[str, str] | None = None,
        allow_anonymous: bool | None = None,
        tls: bool = False,
        require_client_cert: bool = False,
        port: int | None = None,
    ) -> None:
        self._owns_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="mosquitto-")) if directory is None else directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        self.users = dict(users or {})
        self.allow_anonymous = (not self.users) if allow_anonymous is None else allow_anonymous
        self.tls: TlsFiles | None = make_tls_files(self.directory / "tls") if tls else None
        self.require_client_cert = require_client_cert
        self.log_file = self.directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> None:
        data = self.directory / "data"
        data.mkdir(exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "persistence true",
            f"persistence_location {data}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if os.geteuid() == 0:
            # mosquitto drops root privileges to 'mosquitto' by default and then cannot read the temp dir.
            lines.append("user root")
        if self.users:
            password_file = self.directory / "passwords"
            password_file.write_text("")
            for username, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(password_file), username, password],
                    check=True,
                    capture_output=True,
                )
            password_file.chmod(0o600)
            lines.append(f"password_file {password_file}")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                f"require_certificate {'true' if self.require_client_cert else 'false'}",
            ]
        (self.directory / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, timeout_s)
        except TimeoutError as exc:
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            self.kill()
            raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{log[-2000:]}") from exc

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM: mosquitto saves its persistence database and exits."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self) -> None:
        """SIGKILL: no chance to save anything since the last autosave."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def close(self) -> None:
        self.kill()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
