"""A camera with both an ``anomaly:`` section and a rule of its own named ``anomaly`` (the name of
the anomaly section's rule) is a config error naming the rule's line: ``check-config`` says so, a
SIGHUP to such a file is refused like any invalid file (the running config stays, the open events
go on), and a start with it says why and exits.

Found against a live ``serve``: ``check-config`` passed the file, and the SIGHUP raised
``ValueError: camera 'faces': rule names must be unique`` out of the reload and stopped the process."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.serve import CLIP, Process, face_repository, last_committed_seq, wait_for


def write_config(path: Path, state_dir: Path, repository: Path, rules: list[dict[str, Any]]) -> None:
    camera = {
        "id": "demo",
        "url": str(CLIP),
        "detect_fps": 5,
        "model": "face-detector",
        "motion": {"enabled": False},
        "rules": rules,
        # Not enrolled: the camera reports the missing model and its detector rules go on.
        "anomaly": {"model": "scene-anomaly-demo"},
    }
    path.write_text(
        yaml.safe_dump(
            {
                "device_id": "renamed",
                "state_dir": str(state_dir),
                "http": {"port": 0},
                "models": {"repository": str(repository)},
                "cameras": [camera],
            }
        )
    )


FACE = {"name": "face", "labels": ["FACE_FEMALE", "FACE_MALE"], "min_score": 0.4, "min_frames": 2}


def test_a_sighup_to_a_rule_named_anomaly_is_refused_and_serve_goes_on(
    tmp_path: Path, processes: list[Process]
) -> None:
    state_dir = tmp_path / "state"
    repository = face_repository(tmp_path)
    config = tmp_path / "gateway.yaml"
    write_config(config, state_dir, repository, [FACE])
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    gateway.api_port()
    # When: the file gains a rule named like the camera's anomaly rule, and the gateway is told.
    write_config(config, state_dir, repository, [FACE, {**FACE, "name": "anomaly"}])
    gateway.signal(signal.SIGHUP)
    gateway.wait_for_log("reload refused", timeout_s=30)
    # Then: it keeps running the config it had, and deciding (the demo face shows every 20 s).
    assert "rule names must be unique" not in gateway.output()
    committed = last_committed_seq(state_dir)
    wait_for(lambda: last_committed_seq(state_dir) > committed, "a new alert", 45, gateway)
    assert gateway.terminate() == 0, gateway.output()


@pytest.mark.parametrize("command", [["check-config"], ["serve", "--config"]])
def test_a_rule_named_anomaly_is_a_config_error_naming_its_line(tmp_path: Path, command: list[str]) -> None:
    state_dir = tmp_path / "state"
    config = tmp_path / "gateway.yaml"
    write_config(config, state_dir, face_repository(tmp_path), [FACE, {**FACE, "name": "anomaly"}])
    process = Process([*command, str(config)], tmp_path / "command.log")
    try:
        code = process.process.wait(60)
    finally:
        process.kill()
    output = process.output()
    assert code == 2, output
    assert "Traceback" not in output, output
    assert "rules[1].name" in output, output
    assert "belongs to the camera's anomaly: section" in output, output
