"""Geometry written back into a config file: only the camera's zones and lines change; comments, key
order, quoting and ${VARIABLES} stay byte for byte; shapes the editor cannot rewrite safely are
refused with the line to fix; the write is atomic and keeps the file's mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.config import LineConfig, ZoneConfig, parse_config
from gateway.config_edit import GeometryEditError, read_only_reason, replace_geometry, write_atomically

ORIGINAL = """\
# Roof box, installed 2026-05
device_id: roof-01   # printed on the enclosure
state_dir: ${STATE_DIRECTORY}
cameras:
  - id: gate            # north gate
    url: "rtsp://10.0.0.5/stream1"
    model: face-detector
    zones:
      - {name: yard, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1]]}   # drawn by hand
    # rules below were agreed with the site manager
    rules:
      - {name: intrusion, zones: [yard]}
  - id: back
    url: /srv/back.mp4
    # back camera: no geometry yet
    detect_fps: 2
mqtt: {url: "mqtt://127.0.0.1:1883"}   # local broker
"""

YARD = ZoneConfig(name="yard", polygon=[(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)])
DOOR = LineConfig(name="door", points=((0.5, 0.0), (0.5, 1.0)), in_direction=(1.0, 0.0))


def test_replacing_a_cameras_zones_and_adding_a_line_keeps_every_other_byte() -> None:
    edited = replace_geometry(ORIGINAL, "gate", [YARD], [DOOR])

    expected = ORIGINAL.replace(
        "      - {name: yard, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1]]}   # drawn by hand\n",
        "      # drawn by hand\n"
        "      - name: yard\n        polygon: [[0.0, 0.25], [1.0, 0.25], [1.0, 1.0], [0.0, 1.0]]\n",
    ).replace(
        "      - {name: intrusion, zones: [yard]}\n",
        "      - {name: intrusion, zones: [yard]}\n"
        "    lines:\n"
        "      - name: door\n"
        "        points: [[0.5, 0.0], [0.5, 1.0]]\n"
        "        in_direction: [1.0, 0.0]\n",
    )
    assert edited == expected
    config = parse_config(edited, environment={"STATE_DIRECTORY": "/var/lib/edge-gateway"})
    gate = config.cameras[0]
    assert gate.zones == [YARD]
    assert gate.lines == [DOOR]
    assert [rule.name for rule in gate.rules] == ["intrusion"]


def test_comments_inside_a_replaced_block_are_kept() -> None:
    text = (
        "cameras:\n"
        "  - id: gate\n"
        "    url: x\n"
        "    zones:   # agreed 2026-05\n"
        "      # the yard, south of the gate\n"
        "      - name: yard   # do not shrink\n"
        "        polygon: [[0, 0], [1, 0], [1, 1]]\n"
    )
    edited = replace_geometry(text, "gate", [YARD], [])
    assert edited.splitlines()[3:7] == [
        "    zones:  # agreed 2026-05",
        "      # the yard, south of the gate",
        "      # do not shrink",
        "      - name: yard",
    ]
    assert parse_config(edited).cameras[0].zones == [YARD]


def test_the_comment_above_the_next_key_stays_above_it() -> None:
    edited = replace_geometry(ORIGINAL, "gate", [YARD], [])
    lines = edited.splitlines()
    comment = lines.index("    # rules below were agreed with the site manager")
    assert lines[comment + 1] == "    rules:"
    assert lines[comment - 1].startswith("        polygon:")


def test_a_camera_without_geometry_gets_it_after_its_last_key() -> None:
    edited = replace_geometry(ORIGINAL, "back", [YARD], [DOOR])
    lines = edited.splitlines()
    fps = lines.index("    detect_fps: 2")
    assert lines[fps + 1 : fps + 3] == ["    zones:", "      - name: yard"]
    assert lines[fps + 4] == "    lines:"
    assert lines[-1] == 'mqtt: {url: "mqtt://127.0.0.1:1883"}   # local broker'
    config = parse_config(edited, environment={"STATE_DIRECTORY": "/s"})
    assert config.cameras[1].zones == [YARD]
    assert config.cameras[0].zones[0].polygon[0] == (0.1, 0.5)


def test_clearing_geometry_writes_an_empty_list_and_adds_nothing_absent() -> None:
    edited = replace_geometry(ORIGINAL, "gate", [], [])
    assert "    zones: []" in edited.splitlines()
    assert "lines:" not in edited


def test_coordinates_are_written_as_checked() -> None:
    # Not rounded: a zone the client did not edit keeps the file's values, and what was checked is
    # what is written.
    zone = ZoneConfig(name="z", polygon=[(0.123456, 0.5), (0.9, 0.5), (0.9, 0.987654)])
    edited = replace_geometry(ORIGINAL, "back", [zone], [])
    assert "[[0.123456, 0.5], [0.9, 0.5], [0.9, 0.987654]]" in edited


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("cameras:\n  - {id: gate, url: x}\n", "flow style"),
        ("cameras: []\n", "no camera 'gate'"),
        ("device_id: x\n", "no cameras list"),
        (
            "cameras:\n  - id: gate\n    url: x\n    zones: &z []\n  - id: b\n    url: y\n    zones: *z\n",
            "alias",
        ),
        ("cameras: [\n", "invalid YAML"),
    ],
)
def test_files_the_editor_cannot_rewrite_safely_are_refused_with_the_reason(text: str, problem: str) -> None:
    camera = "b" if "alias" in problem else "gate"
    with pytest.raises(GeometryEditError) as caught:
        replace_geometry(text, camera, [YARD], [], source="site.yaml")
    assert problem in str(caught.value)


def test_write_is_atomic_keeps_the_mode_and_follows_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "gateway.yaml"
    link.symlink_to(target)

    write_atomically(link, "new\n")

    assert link.is_symlink()
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gateway.yaml", "real.yaml"]


def test_read_only_reasons(tmp_path: Path) -> None:
    assert "embedded default" in (read_only_reason(None) or "")
    assert "cannot be read" in (read_only_reason(tmp_path / "missing.yaml") or "")
    assert "not a regular file" in (read_only_reason(tmp_path) or "")
    writable = tmp_path / "gateway.yaml"
    writable.write_text("cameras: []\n")
    assert read_only_reason(writable) is None
    if os.geteuid() != 0:  # root writes through any mode bits
        writable.chmod(0o444)
        assert "not writable" in (read_only_reason(writable) or "")
