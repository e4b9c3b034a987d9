"""``serve --config -`` is refused naming why: serve reads its config again on SIGHUP and saves
console edits to it, which standard input cannot serve. Before, ``-`` was taken for a file of that
name: "-: cannot read: No such file or directory", as if the config had gone missing
(or, with a file named ``-`` where serve was started, that file ran instead of the config piped in).
A file named ``-`` is still served as ``./-``. Runs the real ``edge-gateway``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.command import write_config

EXIT_CONFIG = 2


def serve(arguments: list[str], directory: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "serve", *arguments],
        cwd=directory,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_config_on_standard_input_is_refused_naming_why(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gateway.yaml").read_text(encoding="utf-8")

    finished = serve(["--config", "-"], tmp_path, stdin=config)

    assert finished.returncode == EXIT_CONFIG, finished.stderr
    assert "argument --config: - (standard input) cannot be a config serve reads again on SIGHUP" in (
        finished.stderr
    )
    assert "HTTP API listening" not in finished.stderr


def test_a_file_named_dash_is_served_as_dot_slash_dash(tmp_path: Path) -> None:
    (tmp_path / "-").write_text("device_id: [\n", encoding="utf-8")

    finished = serve(["--config", "./-"], tmp_path)

    assert finished.returncode == EXIT_CONFIG, finished.stderr
    assert finished.stderr.startswith("-:2: invalid YAML"), finished.stderr
