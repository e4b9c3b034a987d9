"""The geometry editor reads a file as the config loader does before ruamel composes it, and refuses
an edit whose effect would reach past the camera through an anchor: what the loader refuses (deep
nesting, alias bombs, repeated keys or anchors, unknown tags) is refused with the loader's own
file:line message instead of exhausting the stack or being written around; an anchored camera, or an
anchor inside its geometry, reused elsewhere, is refused naming the alias's line."""

from __future__ import annotations

import pytest

from gateway.config import LineConfig, ZoneConfig, parse_config
from gateway.config_edit import GeometryEditError, replace_geometry

YARD = ZoneConfig(name="yard", polygon=[(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)])
TRIANGLE = "[[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]"
GATE = "cameras:\n  - id: gate\n    url: /srv/gate.mp4\n    zones: []\n"
DEEP = "x: " + "[" * 1000 + "]" * 1000 + "\n"


def _laughs(levels: int) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [
        f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]" for level in range(1, levels)
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # ruamel composes recursively: this exhausted the stack, after 5 s, with a bare RecursionError.
        (GATE + DEEP, "site.yaml:5: invalid YAML: values are nested more than 64"),
        (GATE + _laughs(9), "site.yaml:9: the document has more than 100,000 values with its aliases"),
        (GATE + "    zones: []\n", "site.yaml:5: invalid YAML: key 'zones' is repeated (first on line 4)"),
        (GATE + "a: &x 1\nb: &x 2\n", "site.yaml:6: invalid YAML: found duplicate anchor 'x'"),
        (GATE + "x: !!python/object/apply:os.system [1]\n", "site.yaml:5: invalid YAML: the tag !!python"),
    ],
)  # fmt: skip
def test_what_the_loader_refuses_the_editor_refuses_first_with_its_message(text: str, problem: str) -> None:
    with pytest.raises(GeometryEditError) as caught:
        replace_geometry(text, "gate", [YARD], [], source="site.yaml")
    assert problem in str(caught.value)


MERGED = (
    "cameras:\n"
    "  - &gate\n"
    "    id: gate\n"
    "    url: /srv/gate.mp4\n"
    f"    zones: [{{name: old, polygon: {TRIANGLE}}}]\n"
    "  - <<: *gate\n"
    "    id: back\n"
    "    url: /srv/back.mp4\n"
)
"""back takes gate's keys, zones included, through a merge."""


def test_a_camera_merged_into_another_is_not_edited_under_it() -> None:
    # When gate's zones are saved, back's would silently change with them: refused
    with pytest.raises(GeometryEditError) as caught:
        replace_geometry(MERGED, "gate", [YARD], [], source="site.yaml")
    assert str(caught.value) == (
        "site.yaml:2: cameras[gate]: is anchored as &gate, and the camera on line 6 takes its zones from it "
        "through a merge (<<: *gate): saving them here would change that camera's too; write its own zones "
        "there (an empty list for none), or edit the file by hand"
    )


def test_a_merged_camera_is_edited_when_the_other_writes_its_own_geometry() -> None:
    # Given back writes its own zones, so only the rest of gate's keys reach it
    text = MERGED + "    zones: []\n"
    edited = replace_geometry(text, "gate", [YARD], [])
    gate, back = parse_config(edited).cameras
    assert gate.zones == [YARD]
    assert back.zones == []
    # But a first line for gate would reach back, which has none of its own
    door = LineConfig(name="door", points=((0.5, 0.0), (0.5, 1.0)), in_direction=(1.0, 0.0))
    with pytest.raises(GeometryEditError, match=r"takes its lines from it through a merge"):
        replace_geometry(text, "gate", [YARD], [door])


def test_a_camera_repeated_through_a_plain_alias_is_not_edited() -> None:
    text = "cameras:\n  - &gate\n    id: gate\n    url: /a.mp4\n  - *gate\n"
    with pytest.raises(GeometryEditError) as caught:
        replace_geometry(text, "gate", [YARD], [], source="site.yaml")
    assert "site.yaml:2: cameras[gate]: is anchored as &gate and reused through *gate on line 5" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("zones", "reuse", "anchor"),
    [
        (f"&shared [{{name: old, polygon: {TRIANGLE}}}]", "*shared", "shared"),
        (f"[&old {{name: old, polygon: {TRIANGLE}}}]", "[*old]", "old"),
        (f"[{{name: old, polygon: &corner {TRIANGLE}}}]", "[{name: other, polygon: *corner}]", "corner"),
    ],
)
def test_an_anchor_in_the_replaced_geometry_reused_elsewhere_is_refused(
    zones: str, reuse: str, anchor: str
) -> None:
    text = (
        f"cameras:\n  - id: gate\n    url: /srv/gate.mp4\n    zones: {zones}\n"
        f"  - id: back\n    url: /srv/back.mp4\n    zones: {reuse}\n"
    )
    # Before, the edit took the anchor away and the save failed on "found undefined alias" at line 7.
    with pytest.raises(GeometryEditError) as caught:
        replace_geometry(text, "gate", [YARD], [], source="site.yaml")
    assert str(caught.value).startswith(
        f"site.yaml:4: cameras[gate].zones: holds the anchor &{anchor}, reused through *{anchor} on line 7:"
    )


def test_an_alias_in_the_replaced_geometry_to_an_anchor_elsewhere_is_written_out() -> None:
    text = (
        "cameras:\n  - id: gate\n    url: /srv/gate.mp4\n"
        f"    zones: [&old {{name: old, polygon: {TRIANGLE}}}]\n"
        "  - id: back\n    url: /srv/back.mp4\n    zones: [*old]\n"
    )
    edited = replace_geometry(text, "back", [YARD], [])
    config = parse_config(edited)
    assert [zone.name for zone in config.cameras[0].zones] == ["old"]
    assert config.cameras[1].zones == [YARD]


def test_geometry_taken_through_a_merge_is_cleared_by_writing_it_empty() -> None:
    # Given back takes gate's lines through a merge, and the console clears back's lines
    text = (
        "cameras:\n"
        "  - &gate\n"
        "    id: gate\n"
        "    url: /srv/gate.mp4\n"
        "    lines: [{name: door, points: [[0.5, 0], [0.5, 1]], in_direction: [1, 0]}]\n"
        "  - <<: *gate\n"
        "    id: back\n"
        "    url: /srv/back.mp4\n"
    )
    edited = replace_geometry(text, "back", [YARD], [])
    # Then an empty list overrides the merged one; gate keeps its line
    gate, back = parse_config(edited).cameras
    assert back.zones == [YARD]
    assert back.lines == []
    assert [line.name for line in gate.lines] == ["door"]
    assert edited.startswith(text)


def test_a_camera_merging_nothing_geometric_gets_no_empty_lists() -> None:
    text = (
        "cameras:\n  - &gate\n    id: gate\n    url: /a.mp4\n  - <<: *gate\n    id: back\n    url: /b.mp4\n"
    )
    door = LineConfig(name="door", points=((0.5, 0.0), (0.5, 1.0)), in_direction=(1.0, 0.0))
    edited = replace_geometry(text, "back", [], [door])
    assert "zones" not in edited
    assert parse_config(edited).cameras[1].lines == [door]
