"""Commands run on the embedded default from a working directory that was deleted (a checkout removed
and cloned again under a shell still in it) said so in a FileNotFoundError traceback; now in one
line naming the problem and what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [["serve"], ["models", "list"], ["enroll", "--camera", "demo"]])
def test_a_deleted_working_directory_is_one_line(tmp_path: Path, command: list[str]) -> None:
    gone = tmp_path / "checkout"
    gone.mkdir()
    result = subprocess.run(
        [
            "sh",
            "-c",
            'cd "$1" && rmdir "$1" && shift && exec "$@"',
            "sh",
            str(gone),
            sys.executable,
            "-m",
            "gateway",
            *command,
        ],
        cwd=tmp_path,
        env={key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert (
        "<embedded default config>: the working directory no longer exists (deleted?), and the embedded "
        "default's paths are relative to it: cd into the checkout again, or give --config"
    ) in result.stderr
