"""The real ``edge-gateway`` command line, run as a subprocess of this interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMMAND_TIMEOUT_S = 120.0


def edge_gateway(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m gateway ARGUMENTS`` in ``cwd``, its output captured as text. ``JOURNAL_STREAM`` is
    left out, so the log is the plain text a terminal gets even when the tests run under journald."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *arguments],
        cwd=cwd,
        env={name: value for name, value in os.environ.items() if name != "JOURNAL_STREAM"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
