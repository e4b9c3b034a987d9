"""``check-config -`` reads the config from standard input, as a shell pipeline gives it (before, it
looked for a file named ``-``), and a config's YAML tags other than plain data (``!!binary``,
``!!python/...``, a custom ``!tag``) are refused at their line (before, ``!!binary`` was read as the
text it encodes). Runs the real ``edge-gateway``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.command import COMMAND_TIMEOUT_S, edge_gateway

EXIT_CONFIG = 2


def test_check_config_reads_standard_input_for_a_dash(tmp_path: Path) -> None:
    config = f"device_id: piped\nstate_dir: {tmp_path / 'state'}\nhttp: {{port: 0}}\n"

    valid = edge_gateway("check-config", "-", cwd=tmp_path, stdin=config)
    invalid = edge_gateway("check-config", "-", cwd=tmp_path, stdin=config + "http: {port: 70000}\n")

    assert valid.returncode == 0, valid.stderr
    assert valid.stdout == "<stdin>: ok (0 cameras, device piped)\n"
    assert invalid.returncode == EXIT_CONFIG, invalid.stdout
    assert invalid.stderr.startswith("<stdin>:4: invalid YAML: key 'http' is repeated"), invalid.stderr


def test_check_config_names_a_closed_standard_input(tmp_path: Path) -> None:
    # Started with standard input closed (a service, a cron line with <&-), Python has no sys.stdin.
    closed = subprocess.run(
        ["sh", "-c", 'exec "$0" -m gateway check-config - <&-', sys.executable],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )

    assert closed.returncode == EXIT_CONFIG, closed.stderr
    assert closed.stderr == "<stdin>: cannot read: standard input is closed\n"


def test_a_tag_beyond_plain_data_is_refused_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\ndevice_id: !!binary aGVsbG8=\n", encoding="utf-8")

    checked = edge_gateway("check-config", str(config), cwd=tmp_path)

    assert checked.returncode == EXIT_CONFIG, checked.stdout
    assert checked.stderr == (
        f"{config}:2: invalid YAML: the tag !!binary is not accepted (column 12): a config holds plain "
        "values (text, numbers, true or false, lists and mappings); remove it\n"
    )
