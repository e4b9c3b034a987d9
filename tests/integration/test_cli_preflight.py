"""``check-config`` refuses what ``serve`` would refuse the config for at start (an open address
without tokens, a tokens file it cannot read, a ``state_dir`` that is a file), with the same exit
code and the same words, each at the line of its key (before: the file without a line), so
``ExecStartPre=edge-gateway check-config`` fails where the service would. Runs the real
``edge-gateway``."""

from __future__ import annotations

from pathlib import Path

from tests.support.command import edge_gateway, line_of, write_config
from tests.support.serve import Process

EXIT_CONFIG = 2
STARTED = "outbox "  # the outbox opening: the first thing a start does


def test_check_config_refuses_an_open_address_without_tokens_unless_insecure(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gateway.yaml", http={"host": "0.0.0.0", "port": 0})

    refused = edge_gateway("check-config", str(config), cwd=tmp_path)
    allowed = edge_gateway("check-config", "--insecure", str(config), cwd=tmp_path)

    assert refused.returncode == EXIT_CONFIG, refused.stdout
    assert refused.stdout == ""
    assert refused.stderr == (
        f"{config}:{line_of(config, 'host')}: http.host: 0.0.0.0 is not a loopback address: set "
        "http.tokens_file, or pass --insecure to serve without authentication\n"
    )
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith(f"{config}: ok")


def test_check_config_reads_the_tokens_file_as_serve_does(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    config = write_config(tmp_path / "gateway.yaml", http={"host": "0.0.0.0", "tokens_file": str(tokens)})

    missing = edge_gateway("check-config", str(config), cwd=tmp_path)
    tokens.write_text("# no token yet\n", encoding="utf-8")
    empty = edge_gateway("check-config", str(config), cwd=tmp_path)
    tokens.write_text("a-token\n", encoding="utf-8")
    present = edge_gateway("check-config", str(config), cwd=tmp_path)

    assert missing.returncode == EXIT_CONFIG
    assert f"{tokens}: http.tokens_file: cannot read: " in missing.stderr
    assert empty.returncode == EXIT_CONFIG
    assert empty.stderr == f"{tokens}: http.tokens_file: holds no tokens\n"
    assert present.returncode == 0, present.stderr


def test_a_state_dir_that_is_a_file_is_named_by_check_config_and_serve(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a state_dir that is a file
    state_dir = tmp_path / "state"
    state_dir.write_text("not a directory\n", encoding="utf-8")
    config = write_config(tmp_path / "gateway.yaml")
    expected = f"{config}:{line_of(config, 'state_dir')}: state_dir: {state_dir} is a file, not a directory"

    # When the config is checked, and served
    checked = edge_gateway("check-config", str(config), cwd=tmp_path)
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    code = gateway.process.wait(60)

    # Then both name the key, the path and the problem, and serve starts nothing
    assert checked.returncode == EXIT_CONFIG, checked.stdout
    assert checked.stderr == f"{expected}\n"
    output = gateway.output()
    assert code == EXIT_CONFIG, output
    assert expected in output
    assert STARTED not in output
    assert "signing key" not in output


def test_a_state_dir_below_a_file_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "var"
    blocker.write_text("", encoding="utf-8")
    config = write_config(tmp_path / "gateway.yaml", state_dir=str(blocker / "lib" / "edge-gateway"))

    checked = edge_gateway("check-config", str(config), cwd=tmp_path)

    assert checked.returncode == EXIT_CONFIG, checked.stdout
    assert checked.stderr == (
        f"{config}:{line_of(config, 'state_dir')}: state_dir: {blocker}/lib/edge-gateway cannot be "
        f"created: {blocker} is a file, not a directory\n"
    )


def test_a_state_dir_that_does_not_exist_yet_passes(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gateway.yaml", state_dir=str(tmp_path / "new" / "state"))

    checked = edge_gateway("check-config", str(config), cwd=tmp_path)

    assert checked.returncode == 0, checked.stderr
