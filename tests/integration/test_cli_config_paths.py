"""A path in the config that no file can have (a NUL) is a config error from ``check-config`` and
``serve`` alike, naming the key and its line, not a traceback when the first file is opened. Runs the
real ``edge-gateway``."""

from __future__ import annotations

from pathlib import Path

from tests.support.command import edge_gateway

EXIT_CONFIG = 2


def test_a_nul_in_a_path_is_a_config_error_for_check_config_and_serve(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "device_id: paths-box\n"
        'state_dir: "state\\0dir"\n'
        "http: {port: 0}\n"
        f"models: {{repository: {tmp_path / 'models'}}}\n",
        encoding="utf-8",
    )
    expected = f"{config}:2: state_dir: 'state\\x00dir' holds a NUL character, which no path may hold\n"

    checked = edge_gateway("check-config", str(config), cwd=tmp_path)
    served = edge_gateway("serve", "--config", str(config), cwd=tmp_path)

    assert checked.returncode == EXIT_CONFIG, checked.stdout
    assert checked.stderr == expected
    assert served.returncode == EXIT_CONFIG, served.stderr
    assert served.stderr == expected
    assert not (tmp_path / "state").exists()
