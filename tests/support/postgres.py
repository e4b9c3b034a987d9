"""A real PostgreSQL server for tests: Debian's postgresql 15 binaries in a temporary directory.

The server listens on a free 127.0.0.1 port with trust authentication and its socket in the temporary
directory, so it needs nothing from the system's own cluster. PostgreSQL refuses to run as root, and
CI runs as root: there the data directory is handed to an unprivileged system user (``postgres`` when
the Debian package created it, else ``nobody``) and the binaries run as that user. Durability is
switched off (fsync, synchronous_commit): a test database need not survive a power cut, and it makes
each commit cost microseconds instead of a disk flush. ``PostgresServer(durable=True)`` keeps
PostgreSQL's own defaults instead (every commit flushed), for benchmarks that stand for production.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

BIN_DIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


class PostgresServer:
    """``with PostgresServer() as server:`` starts a fresh cluster; ``server.create_database()`` gives
    each test its own empty database URL."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.port = free_port()
        self._root = Path(tempfile.mkdtemp(prefix="edge-gateway-pg-"))
        self._data = self._root / "data"
        self._log = self._root / "postgres.log"
        self._user = _run_as()
        self._process: subprocess.Popen[bytes] | None = None
        self._databases = 0

    def _as_user(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def start(self) -> None:
        if self._user is not None:
            os.chown(self._root, self._user.pw_uid, self._user.pw_gid)
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "HOME": str(self._root),
        }
        subprocess.run(
            [
                str(BIN_DIR / "initdb"),
                "--pgdata",
                str(self._data),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            env=environment,
            cwd=self._root,
            **self._as_user(),
        )
        log = self._log.open("wb")
        if self._user is not None:
            os.chown(self._log, self._user.pw_uid, self._user.pw_gid)
        self._process = subprocess.Popen(
            [
                str(BIN_DIR / "postgres"),
                "-D",
                str(self._data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self._root}",
                "-c",
                "max_connections=50",
                *(
                    []
                    if self.durable
                    else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
                ),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=self._root,
            **self._as_user(),
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"postgres exited at start:\n{self.log_text()}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"postgres not ready in {START_TIMEOUT_S} s:\n{self.log_text()}"
                    ) from None
                time.sleep(0.1)

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs (its backends are its children)."""
        return self._process.pid if self._process is not None else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        self._databases += 1
        name = f"test_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def log_text(self) -> str:
        try:
            return self._log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def waiting_sessions(database: str) -> int:
    """Sessions of ``database`` (a connection string) waiting for a lock another holds."""
    with psycopg.connect(database, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    return int(rows[0][0])
