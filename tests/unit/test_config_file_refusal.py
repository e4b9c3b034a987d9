"""A reload that leaves the running config (the file invalid, empty, unreadable) is told to
``refused`` in one line naming the file, when and why, which ``/v1/status`` and systemd's status
line show; a later reload or a console save that applies the file clears it (``refused(None)``).

Before, the refusal was only in the log: whoever ran ``systemctl reload`` saw it succeed and
believed the file in force. ``tests/integration/test_reload_refused_status.py`` shows it on the
real ``serve``. Real files, the real ``ConfigFile``; what it applies and what it is told recorded."""

from __future__ import annotations

import calendar
import re
import time
from pathlib import Path

import pytest

from gateway.config import GatewayConfig, ZoneConfig, parse_config
from gateway.errors import ConfigError
from gateway.pipeline.config_file import ConfigFile

SETTLE_S = 0.01
WRITTEN = "cameras:\n  - id: gate\n    url: /srv/gate.mp4\n    model: affine\n"
RUNNING = parse_config(WRITTEN)
FRAME_RATE = "cameras[0].detect_fps: must be at least one frame a day (1/86400), got -1"
STAYS = "; the running config stays until a reload applies the file"
ZONE = ZoneConfig(name="yard", polygon=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9)])


class Told:
    """``ConfigFile``'s ``refused``: every line it was told, None for a file applied."""

    def __init__(self) -> None:
        self.lines: list[str | None] = []

    def __call__(self, line: str | None) -> None:
        self.lines.append(line)


def config_file(path: Path, told: Told, applied: list[GatewayConfig]) -> ConfigFile:
    return ConfigFile(path, lambda: RUNNING, applied.append, settle_s=SETTLE_S, refused=told)


def refused(path: Path) -> tuple[ConfigFile, Told, list[GatewayConfig]]:
    """A config file at ``path`` whose camera's frame rate is refused, reloaded once."""
    path.write_text(WRITTEN + "    detect_fps: -1\n", encoding="utf-8")
    told, applied = Told(), list[GatewayConfig]()
    reloads = config_file(path, told, applied)
    reloads.reload()
    return reloads, told, applied


def refused_at(line: str | None) -> tuple[float, str]:
    """When a refusal line says the reload was refused (whole seconds since the epoch), and why."""
    assert line is not None
    match = re.fullmatch(r"reload refused at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ): (.*)", line)
    assert match is not None, line
    return calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ")), match.group(2)


def test_a_refused_reload_is_told_in_one_line_naming_the_file_when_and_why(tmp_path: Path) -> None:
    # Given a config file with a mistake, then with two
    path = tmp_path / "gateway.yaml"
    told, applied = Told(), list[GatewayConfig]()
    reloads = config_file(path, told, applied)
    path.write_text(WRITTEN + "    detect_fps: -1\n", encoding="utf-8")
    before = time.time() // 1

    # When each is reloaded
    reloads.reload()
    path.write_text(WRITTEN + "    detect_fps: -1\n    colour: red\n", encoding="utf-8")
    reloads.reload()
    after = time.time()

    # Then each refusal is told in one line: when, the file, its first problem, how many more
    (first_at, first), (second_at, second) = (refused_at(line) for line in told.lines)
    assert before <= first_at <= second_at <= after
    assert first.startswith(f"{path}:5: {FRAME_RATE}; ")
    assert first.endswith(STAYS)
    assert second.startswith(f"{path}:5: {FRAME_RATE}; ")
    assert second.endswith(f" (and 1 more problem in the log){STAYS}")
    assert "\n" not in first + second
    assert applied == []


def test_a_refused_empty_file_is_told_as_check_config_says_it(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("# being written\n", encoding="utf-8")
    told = Told()

    config_file(path, told, []).reload()

    (line,) = told.lines
    assert refused_at(line)[1] == (
        f"{path}: is empty (no YAML document): only blank lines and comments (cut short, or still "
        f"being written?){STAYS}"
    )


def test_a_reload_that_applies_the_file_clears_the_refusal(tmp_path: Path) -> None:
    # Given a reload refused
    path = tmp_path / "gateway.yaml"
    path.write_text("device_id: [\n", encoding="utf-8")
    told, applied = Told(), list[GatewayConfig]()
    reloads = config_file(path, told, applied)
    reloads.reload()

    # When the file is fixed and reloaded
    path.write_text(WRITTEN, encoding="utf-8")
    reloads.reload()

    # Then the refusal is cleared as the file is applied
    assert [line is None for line in told.lines] == [False, True]
    assert applied == [RUNNING]


def test_a_console_save_applies_the_whole_file_and_clears_the_refusal(tmp_path: Path) -> None:
    # Given a reload refused, and the file fixed since without a reload
    path = tmp_path / "gateway.yaml"
    reloads, told, applied = refused(path)
    path.write_text(WRITTEN, encoding="utf-8")

    # When the console saves a zone of the camera
    reloads.save_geometry("gate", [ZONE], [])

    # Then the file as saved is in force, and the refusal is cleared
    assert [line is None for line in told.lines] == [False, True]
    assert [config.cameras[0].zones for config in applied] == [[ZONE]]


def test_a_console_save_refused_leaves_the_refusal(tmp_path: Path) -> None:
    # Given a reload refused for a mistake the file still has
    reloads, told, applied = refused(tmp_path / "gateway.yaml")

    # When the console tries to save a zone, and the save is refused for the same mistake
    with pytest.raises(ConfigError, match="detect_fps"):
        reloads.save_geometry("gate", [ZONE], [])

    # Then nothing is applied, and the refusal stands
    assert [line is None for line in told.lines] == [False]
    assert applied == []
