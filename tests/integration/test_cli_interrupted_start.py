"""Ctrl-C while a command is still importing (its first second or so: ONNX Runtime, OpenCV, aiohttp)
ended it in a KeyboardInterrupt traceback of whatever module was loading; now as Ctrl-C ends it
later: one line and 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

IMPORTING_S = 0.2
"""When SIGINT is sent: the interpreter is up within 0.05 s here and the imports take over a second."""


def test_ctrl_c_during_the_imports_is_one_line_and_130(tmp_path: Path) -> None:
    command = subprocess.Popen(
        [sys.executable, "-m", "gateway", "models", "list"],
        cwd=tmp_path,
        env={key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(IMPORTING_S)
    command.send_signal(signal.SIGINT)
    output, errors = command.communicate(timeout=60)
    assert (command.returncode, errors) == (130, "edge-gateway: interrupted\n"), output
