"""``--log-level`` and ``--log-format`` are taken after the command as well as before it
(``edge-gateway serve --log-level debug``, as most CLIs take them). Runs the real ``edge-gateway``."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.support.command import edge_gateway, line_of
from tests.support.onnx_models import write_affine_model
from tests.support.serve import Process

EXIT_CONFIG = 2
LOOP_LINE = "event loop: "  # serve's first INFO line, before the config's start-up checks


def write_config(directory: Path, state_dir: Path) -> Path:
    repository = directory / "models"
    repository.mkdir(exist_ok=True)
    path = directory / "gateway.yaml"
    config = {
        "device_id": "options-box",
        "state_dir": str(state_dir),
        "http": {"port": 0},
        "models": {"repository": str(repository), "warmup_batches": 1},
        "inference": {"workers": 1, "providers": ["cpu"]},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_serve_takes_the_logging_options_after_the_command(tmp_path: Path, processes: list[Process]) -> None:
    config = write_config(tmp_path, tmp_path / "state")

    gateway = Process(
        ["serve", "--config", str(config), "--log-level", "debug", "--log-format", "json"],
        tmp_path / "gateway.log",
    )
    processes.append(gateway)
    gateway.wait_for_log("HTTP API listening on")

    assert gateway.terminate() == 0, gateway.output()
    messages = [json.loads(line)["message"] for line in gateway.output().splitlines()]
    assert any(message.startswith("HTTP API listening on") for message in messages), messages


def test_a_level_after_the_command_sets_what_is_logged(tmp_path: Path) -> None:
    # Given a config serve refuses at once (its state_dir is a file), after its first INFO line
    state_dir = tmp_path / "state"
    state_dir.write_text("", encoding="utf-8")
    config = write_config(tmp_path, state_dir)

    default = edge_gateway("serve", "--config", str(config), cwd=tmp_path)
    quiet = edge_gateway("serve", "--config", str(config), "--log-level", "error", cwd=tmp_path)

    assert default.returncode == quiet.returncode == EXIT_CONFIG
    assert LOOP_LINE in default.stderr
    where = f"{config}:{line_of(config, 'state_dir')}"
    assert quiet.stderr == f"{where}: state_dir: {state_dir} is a file, not a directory\n"


def test_models_list_takes_the_options_before_or_after_the_command(tmp_path: Path) -> None:
    repository = tmp_path / "models"
    write_affine_model(repository, "first")
    config = write_config(tmp_path, tmp_path / "state")

    before = edge_gateway("--log-level", "info", "models", "list", "--config", str(config), cwd=tmp_path)
    after = edge_gateway("models", "list", "--config", str(config), "--log-level", "info", cwd=tmp_path)
    # the one after the command wins, as the later of two options does
    both = edge_gateway(
        "--log-level", "info", "models", "list", "--config", str(config), "--log-level", "error", cwd=tmp_path
    )

    for result in (before, after, both):
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[1].startswith("first ")
    for result in (before, after):
        ready = [line for line in result.stderr.splitlines() if "model first:1 ready on " in line]
        assert len(ready) == 1, result.stderr
        assert " INFO " in ready[0], result.stderr
    assert both.stderr == ""
