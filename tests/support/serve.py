"""The real ``edge-gateway`` as a subprocess for the end-to-end tests: start it, read its log and API
port, signal it; plus the small repository and config helpers those tests share."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]
CLIP = REPOSITORY / "build" / "demo" / "clip.mp4"
START_WAIT_S = 90.0
STOP_BUDGET_S = 10.0


class Process:
    """``python -m gateway ARGUMENTS`` with its output in ``log``: run by ``prefix`` (a command such as
    ``tests.support.child_limits.held_to_file_modes``), under ``umask`` (-1: this process's)."""

    def __init__(
        self,
        arguments: list[str],
        log: Path,
        environment: dict[str, str] | None = None,
        *,
        prefix: Sequence[str] = (),
        umask: int = -1,
    ) -> None:
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [*prefix, sys.executable, "-m", "gateway", *arguments],
                cwd=log.parent,
                env={**os.environ, "PYTHONFAULTHANDLER": "1", **(environment or {})},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                umask=umask,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_BUDGET_S)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def api_port(self) -> int:
        deadline = time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            match = re.search(r"HTTP API listening on 127\.0\.0\.1:(\d+)", self.output())
            if match is not None:
                return int(match.group(1))
            assert self.process.poll() is None, self.output()
            time.sleep(0.2)
        raise AssertionError(f"the API did not start:\n{self.output()}")

    def wait_for_log(self, text: str, timeout_s: float = START_WAIT_S, after: int = 0) -> None:
        """Until ``text`` shows in the log past character ``after``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.output()[after:]:
                return
            assert self.process.poll() is None, self.output()
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} in the log within {timeout_s} s:\n{self.output()}")


def face_repository(directory: Path) -> Path:
    """A repository with the face detector only: the bench model's warm-up is not needed here."""
    repository = directory / "models"
    repository.mkdir()
    (repository / "face-detector").symlink_to(REPOSITORY / "models" / "face-detector")
    return repository


def serve_cameras(
    directory: Path, device_id: str, cameras: list[dict[str, Any]], prefix: tuple[str, ...] = ()
) -> Process:
    """``serve`` of ``cameras`` on the face detector, its state under ``directory`` and its API on a
    free loopback port (``Process.api_port``), no tokens; run by ``prefix`` (``Process``)."""
    config = directory / "gateway.yaml"
    config.write_text(
        json.dumps(
            {
                "device_id": device_id,
                "state_dir": str(directory / "state"),
                "http": {"port": 0},
                "models": {"repository": str(face_repository(directory))},
                "cameras": cameras,
            }
        )
    )
    return Process(["serve", "--config", str(config)], directory / "serve.log", prefix=prefix)


def door_camera() -> dict[str, Any]:
    """The demo clip as camera ``door`` with a face rule that fires every time the face shows."""
    return {
        "id": "door",
        "url": str(CLIP),
        "detect_fps": 5,
        "model": "face-detector",
        "motion": {"enabled": False},
        "rules": [
            {
                "name": "face",
                "labels": ["FACE_FEMALE", "FACE_MALE"],
                "min_score": 0.4,
                "min_frames": 1,
                "cooldown_s": 0,
                "update_interval_s": 0.2,
                "end_after_s": 0.5,
            }
        ],
    }


def last_committed_seq(state_dir: Path) -> int:
    database = state_dir / "outbox.db"
    if not database.exists():
        return 0
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        try:
            row = connection.execute("SELECT MAX(seq) FROM alerts").fetchone()
        except sqlite3.OperationalError:  # the gateway is still creating the schema
            return 0
    return int(row[0] or 0)


def wait_for(
    condition: Callable[[], bool], what: str, timeout_s: float = START_WAIT_S, process: Process | None = None
) -> None:
    """Until ``condition()`` holds; a ``process`` that exits meanwhile fails at once, with its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None:
            assert process.process.poll() is None, process.output()
        time.sleep(0.1)
    log = f":\n{process.output()[-4000:]}" if process is not None else ""
    raise AssertionError(f"{what} not within {timeout_s} s{log}")
