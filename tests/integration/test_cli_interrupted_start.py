"""Ctrl-C while a command is still importing (its first second or so: ONNX Runtime, OpenCV, aiohttp)
ended it in a KeyboardInterrupt traceback of whatever module was loading; now as Ctrl-C ends it
later: one line and 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.child_limits import interruptible

IMPORTING = "gateway.commands"
"""The module whose ``-X importtime`` line is waited for: the commands' package, imported first of
the commands; the many modules of the commands themselves come after it."""


def test_ctrl_c_during_the_imports_is_one_line_and_130(tmp_path: Path) -> None:
    command = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "gateway", "models", "list"],
        cwd=tmp_path,
        env={key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,  # noqa: PLW1509 (signal.signal takes no lock)
    )
    assert command.stderr is not None
    # When Ctrl-C comes while the commands are being imported
    for line in command.stderr:
        if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == IMPORTING:
            command.send_signal(signal.SIGINT)
            break
    rest = command.stderr.read()
    command.stderr.close()
    code = command.wait(60)
    # Then the command ends as Ctrl-C ends it later, with no traceback
    said = [line for line in rest.splitlines() if not line.startswith("import time:")]
    assert (code, said) == (130, ["edge-gateway: interrupted"]), rest
    assert "gateway.cli" not in rest  # interrupted before its imports ended
