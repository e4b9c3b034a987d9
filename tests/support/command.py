"""The real ``edge-gateway`` command line, run as a subprocess of this interpreter, and the small
config the command-line tests start it with."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.serve import face_repository

COMMAND_TIMEOUT_S = 120.0


def edge_gateway(
    *arguments: str,
    cwd: Path,
    stdin: str | None = None,
    held_to: Callable[[], None] | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``python -m gateway ARGUMENTS`` in ``cwd``, its output captured as text, ``stdin`` its input
    (none: an empty one), ``held_to`` run in the child first and ``prefix`` the command it is run by
    (``tests.support.child_limits``). ``JOURNAL_STREAM`` is left out, so the log is the plain text a
    terminal gets even when the tests run under journald."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "gateway", *arguments],
        cwd=cwd,
        input=stdin if stdin is not None else "",
        env={name: value for name, value in os.environ.items() if name != "JOURNAL_STREAM"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
        preexec_fn=held_to,
    )


def write_config(path: Path, device_id: str = "cli-box", **sections: Any) -> Path:
    """A config at ``path`` with no cameras, its state and a face-detector repository beside it, the
    API on a free port: ``sections`` replace or add top-level keys. Written again (a reload), it keeps
    the repository it made."""
    repository = path.parent / "models"
    if not repository.exists():
        face_repository(path.parent)
    config = {
        "device_id": device_id,
        "state_dir": str(path.parent / "state"),
        "http": {"port": 0},
        "models": {"repository": str(repository)},
        "inference": {"workers": 1},
        **sections,
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def line_of(path: Path, key: str) -> int:
    """The line of the first ``key:`` written in the config at ``path`` (at any indentation)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.lstrip().startswith(f"{key}:"))
