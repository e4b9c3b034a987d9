"""``serve`` refuses an API it cannot open before it starts anything (models, cameras, the device's
MQTT session), and a SIGTERM during start-up stops it without opening the API; without a config,
outside a checkout, it says what the embedded default needs. Runs the real ``edge-gateway`` with
the shipped models."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.command import line_of, write_config
from tests.support.serve import REPOSITORY, STOP_BUDGET_S, Process, wait_for

STARTED = "outbox "  # the outbox opening: the first thing a start does
LISTENING = "HTTP API listening on"


def test_a_port_in_use_is_named_before_anything_starts(tmp_path: Path, processes: list[Process]) -> None:
    # Given the API's port held by another process
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        config = write_config(tmp_path / "gateway.yaml", http={"port": port})

        # When serve starts
        gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
        processes.append(gateway)
        code = gateway.process.wait(60)

    # Then it fails at once, naming the address, with nothing started
    output = gateway.output()
    assert code == 1, output
    assert (
        f"cannot start: cannot listen on 127.0.0.1:{port} (http.host, http.port): address already in use"
        in (output)
    )
    assert STARTED not in output


def test_an_open_address_without_tokens_is_a_config_error_before_anything_starts(
    tmp_path: Path, processes: list[Process]
) -> None:
    config = write_config(tmp_path / "gateway.yaml", http={"host": "0.0.0.0", "port": 0})

    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    code = gateway.process.wait(60)

    output = gateway.output()
    assert code == 2, output
    expected = f"{config}:{line_of(config, 'host')}: http.host: 0.0.0.0 is not a loopback address"
    assert f"{expected}: set http.tokens_file" in output
    assert STARTED not in output


def test_an_empty_tokens_file_is_a_config_error_before_anything_starts(
    tmp_path: Path, processes: list[Process]
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# none yet\n", encoding="utf-8")
    config = write_config(tmp_path / "gateway.yaml", http={"port": 0, "tokens_file": str(tokens)})

    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    code = gateway.process.wait(60)

    output = gateway.output()
    assert code == 2, output
    assert f"{tokens}: http.tokens_file: holds no tokens" in output
    assert STARTED not in output


def test_sigterm_during_a_model_load_stops_without_opening_the_api(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a start that spends seconds warming a YOLOv8n-sized model
    repository = tmp_path / "models"
    repository.mkdir()
    (repository / "yolov8n-bench").symlink_to(REPOSITORY / "models" / "yolov8n-bench")
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "device_id": "start-box",
                "state_dir": str(tmp_path / "state"),
                "http": {"port": 0},
                "models": {"repository": str(repository), "preload": "all", "warmup_batches": 40},
                "inference": {"workers": 1, "max_batch_size": 1},
            }
        ),
        encoding="utf-8",
    )
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)

    # When SIGTERM comes once the outbox is open and the model is loading
    gateway.wait_for_log(STARTED)
    gateway.signal(signal.SIGTERM)
    code = gateway.process.wait(120)

    # Then the start in progress ends, the API is never opened, and the exit is clean
    output = gateway.output()
    assert code == 0, output
    assert "SIGTERM received: stopping" in output
    assert output.index("SIGTERM received") < output.index("gateway start-box running"), output
    assert LISTENING not in output
    assert output.rstrip().endswith("stopped"), output


def test_the_embedded_default_outside_a_checkout_is_refused_saying_what_it_needs(
    tmp_path: Path, processes: list[Process]
) -> None:
    # When serve runs without a config in a directory that is no set-up checkout
    gateway = Process(["serve"], tmp_path / "gateway.log")
    processes.append(gateway)
    code = gateway.process.wait(60)

    # Then it says so and what to do, with nothing started or written there
    output = gateway.output()
    assert code == 2, output
    assert (
        f"no --config, and the embedded default runs in a checkout after its set-up (make run); {tmp_path} "
        "has no models or build/demo/clip.mp4: pass --config FILE to run anywhere else"
    ) in output
    assert STARTED not in output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gateway.log"]


def test_serve_started_without_standard_input_and_output_stops_cleanly(tmp_path: Path) -> None:
    # Given serve started with descriptors 0 and 1 closed (a shell's <&- >&-; some service managers)
    config = write_config(tmp_path / "gateway.yaml")
    log = tmp_path / "gateway.log"
    with log.open("wb") as errors:
        gateway = subprocess.Popen(
            [
                "sh",
                "-c",
                'exec "$@" <&- >&-',
                "sh",
                sys.executable,
                "-m",
                "gateway",
                "serve",
                "--config",
                str(config),
            ],
            cwd=tmp_path,
            env={key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"},
            stderr=errors,
        )
    try:
        wait_for(lambda: LISTENING in log.read_text(encoding="utf-8", errors="replace"), "the API listening")
    finally:
        gateway.send_signal(signal.SIGTERM)
        code = gateway.wait(STOP_BUDGET_S)
    # Then it stops as any serve does: libuv found none of its own descriptors at 0-2 to abort over
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output
    assert "Assertion" not in output, output
