"""The motion mask written back into a config file beside the geometry: only the camera's
``motion.mask`` changes, inside its own ``motion:`` mapping, whose other keys and comments stay byte for
byte; a ``motion`` the editor cannot write into as a block, or one taken through a merge, is refused
with the line to fix; without a mask the file's is left alone."""

from __future__ import annotations

import pytest

from gateway.config import parse_config
from gateway.config_edit import GeometryEditError, replace_geometry
from tests.unit.test_config_edit import DOOR, YARD

CLOCK = [[(0.6, 0.0), (1.0, 0.0), (1.0, 0.4)]]
CLOCK_LINE = "- [[0.6, 0.0], [1.0, 0.0], [1.0, 0.4]]"
TREE = [(0.0, 0.5), (0.25, 0.5), (0.25, 1.0), (0.0, 1.0)]
GATE = "cameras:\n  - id: gate\n    url: /srv/gate.mp4\n"
BACK = "  - id: back\n    url: /srv/back.mp4\n"

MIDDLE = (
    GATE + "    model: face-detector\n"
    "    motion:   # tuned on site\n"
    "      min_area: 0.01   # kept\n"
    "      mask:   # the clock\n"
    "        # top right corner\n"
    "        - [[0, 0], [0.2, 0], [0.2, 0.1]]   # clock\n"
    "      hold_s: 3\n"
    "    # rules agreed with the site manager\n"
    "    rules:\n"
    "      - {name: intrusion}\n"
)
"""gate's motion, with a mask, in the middle of its keys."""


def _mask(text: str, camera: int = 0) -> list[list[tuple[float, float]]]:
    return list(parse_config(text).cameras[camera].motion.mask)


def test_replacing_the_mask_keeps_motions_other_keys_and_comments() -> None:
    edited = replace_geometry(MIDDLE, "gate", [], [], mask=[*CLOCK, TREE])

    assert edited == MIDDLE.replace(
        "      mask:   # the clock\n"
        "        # top right corner\n"
        "        - [[0, 0], [0.2, 0], [0.2, 0.1]]   # clock\n",
        "      mask:  # the clock\n"
        "        # top right corner\n"
        "        # clock\n"
        f"        {CLOCK_LINE}\n"
        "        - [[0.0, 0.5], [0.25, 0.5], [0.25, 1.0], [0.0, 1.0]]\n",
    )
    motion = parse_config(edited).cameras[0].motion
    assert motion.mask == [*CLOCK, TREE]
    assert (motion.min_area, motion.hold_s) == (0.01, 3.0)
    assert [rule.name for rule in parse_config(edited).cameras[0].rules] == ["intrusion"]


def test_a_mask_is_added_after_the_last_key_of_motion_when_motion_is_the_cameras_last() -> None:
    text = GATE + "    motion:\n      min_area: 0.01   # kept\n" + BACK

    edited = replace_geometry(text, "gate", [], [], mask=CLOCK)

    assert edited == text.replace(
        "      min_area: 0.01   # kept\n",
        f"      min_area: 0.01   # kept\n      mask:\n        {CLOCK_LINE}\n",
    )
    assert _mask(edited) == CLOCK
    assert _mask(edited, 1) == []


def test_a_camera_without_motion_gets_one_holding_only_the_mask() -> None:
    text = GATE + "    detect_fps: 2   # slow\n" + BACK

    edited = replace_geometry(text, "gate", [], [], mask=CLOCK)

    assert edited == text.replace(
        "    detect_fps: 2   # slow\n",
        f"    detect_fps: 2   # slow\n    motion:\n      mask:\n        {CLOCK_LINE}\n",
    )
    assert _mask(edited) == CLOCK
    assert parse_config(edited).cameras[0].motion.min_area == 0.002  # the default, as before


def test_an_empty_mask_clears_one_written_and_adds_nothing_absent() -> None:
    cleared = replace_geometry(MIDDLE, "gate", [], [], mask=[])
    assert "      mask: []  # the clock" in cleared.splitlines()
    assert _mask(cleared) == []
    for text in (GATE, GATE + "    motion:\n      min_area: 0.01\n"):
        assert replace_geometry(text, "gate", [], [], mask=[]) == text


@pytest.mark.parametrize(
    "text",
    [
        MIDDLE,
        GATE + "    motion: {min_area: 0.01, mask: [[[0, 0], [1, 0], [1, 1]]]}\n",
        "m: &m {min_area: 0.01}\n" + GATE + "    motion: *m\n",
    ],
)
def test_without_a_mask_the_file_is_left_as_it_is(text: str) -> None:
    assert replace_geometry(text, "gate", [], [], mask=None) == text
    assert replace_geometry(text, "gate", [], []) == text


def test_zones_lines_and_mask_are_saved_in_one_edit() -> None:
    # Given motion, without a mask, as gate's last key, where the lines go too
    text = GATE + "    zones: []   # none yet\n    motion:\n      threshold: 30\n" + BACK

    edited = replace_geometry(text, "gate", [YARD], [DOOR], mask=CLOCK)

    assert edited == (
        GATE + "    zones:  # none yet\n"
        "      - name: yard\n"
        "        polygon: [[0.0, 0.25], [1.0, 0.25], [1.0, 1.0], [0.0, 1.0]]\n"
        "    motion:\n"
        "      threshold: 30\n"
        "      mask:\n"
        f"        {CLOCK_LINE}\n"
        "    lines:\n"
        "      - name: door\n"
        "        points: [[0.5, 0.0], [0.5, 1.0]]\n"
        "        in_direction: [1.0, 0.0]\n" + BACK
    )
    gate = parse_config(edited).cameras[0]
    assert (gate.zones, gate.lines, gate.motion.mask, gate.motion.threshold) == ([YARD], [DOOR], CLOCK, 30)


def test_a_camera_without_motion_gets_it_after_its_new_geometry() -> None:
    edited = replace_geometry(GATE, "gate", [YARD], [DOOR], mask=CLOCK)
    assert [line for line in edited.splitlines() if not line.startswith(" " * 6)][3:] == [
        "    zones:",
        "    lines:",
        "    motion:",
    ]
    gate = parse_config(edited).cameras[0]
    assert (gate.zones, gate.lines, gate.motion.mask) == ([YARD], [DOOR], CLOCK)


def test_coordinates_of_the_mask_are_written_as_checked() -> None:
    outline = [(0.123456, 0.5), (0.9, 0.5), (0.9, 0.987654)]
    edited = replace_geometry(GATE, "gate", [], [], mask=[outline])
    assert "        - [[0.123456, 0.5], [0.9, 0.5], [0.9, 0.987654]]" in edited.splitlines()
    assert _mask(edited) == [outline]


FLOW_MOTION = (
    GATE + "    motion: {enabled: true, threshold: 25, min_area: 2e-3,  \n"
    "             mask: [[[0.6,0],[1,0],[1,0.5]]]}   # a tree, a clock\n" + BACK
)
"""gate's motion as DESIGN's and the README's examples write it: in flow style, over two lines."""


def test_a_mask_is_written_into_a_motion_in_flow_style_keeping_its_other_entries_as_written() -> None:
    edited = replace_geometry(FLOW_MOTION, "gate", [], [], mask=[TREE])
    assert edited == (
        GATE + "    motion: {enabled: true, threshold: 25, min_area: 2e-3, "
        "mask: [[[0.0, 0.5], [0.25, 0.5], [0.25, 1.0], [0.0, 1.0]]]}   # a tree, a clock\n" + BACK
    )
    assert _mask(edited) == [TREE]
    assert parse_config(edited).cameras[0].motion.min_area == 0.002
    cleared = replace_geometry(FLOW_MOTION, "gate", [], [], mask=[])
    assert "    motion: {enabled: true, threshold: 25, min_area: 2e-3, mask: []}   # a tree, a clock" in (
        cleared.splitlines()
    )


def test_a_flow_style_motion_without_a_mask_gets_one_at_its_end() -> None:
    for written, expected in (
        ("{min_area: 0.01}", f"{{min_area: 0.01, mask: [{CLOCK_LINE[2:]}]}}"),
        ("{}", f"{{mask: [{CLOCK_LINE[2:]}]}}"),
    ):
        text = GATE + f"    motion: {written}\n"
        edited = replace_geometry(text, "gate", [], [], mask=CLOCK)
        assert edited == GATE + f"    motion: {expected}\n"
        assert _mask(edited) == CLOCK
        assert replace_geometry(text, "gate", [], [], mask=[]) == text


MERGED_MOTION = "comes through a merge (<<:), and an own motion would replace the merged one whole: write"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            GATE + "    motion: {min_area: 0.01,  # the hedge\n      hold_s: 3}\n",
            "site.yaml:4: cameras[gate].motion: is written in flow style with comments inside its braces, "
            "which saving the mask would drop: move them out of the braces, or write it as a block mapping",
        ),
        (
            "h: &h 3\n" + GATE + "    motion: {min_area: 0.01, hold_s: *h}\n",
            "site.yaml:5: cameras[gate].motion.hold_s: is a YAML alias: edit it by hand",
        ),
        (
            GATE + "    motion:\n    detect_fps: 2\n",
            "site.yaml:4: cameras[gate].motion: is not a mapping of settings: write it as one, or remove it, "
            "to save the mask here",
        ),
        (
            GATE + "    motion: [0.01]\n",
            "site.yaml:4: cameras[gate].motion: is not a mapping of settings",
        ),
        (
            "m: &m\n  min_area: 0.01\n" + GATE + "    motion: *m\n",
            "site.yaml:6: cameras[gate].motion: is a YAML alias: edit it by hand",
        ),
        (
            "m: &m {min_area: 0.01}\n" + GATE + "    motion:\n      hold_s: 3\n      <<: *m\n",
            "site.yaml:7: cameras[gate].motion: takes settings through a merge (<<:): write them out in it "
            "to save the mask here, or edit the file by hand",
        ),
        (
            "k: &k [[[0, 0], [1, 0], [1, 1]]]\n" + GATE + "    motion:\n      mask: *k\n",
            "site.yaml:6: cameras[gate].motion.mask: is a YAML alias: edit it by hand",
        ),
        (
            "cameras:\n  - &base\n    id: base\n    url: x\n    motion:\n      min_area: 0.01\n"
            "  - id: gate\n    <<: *base\n    url: y\n",
            f"site.yaml:8: cameras[gate].motion: {MERGED_MOTION} the camera's own motion, with all its "
            "settings, to save the mask here, or edit the file by hand",
        ),
    ],
)
def test_a_motion_the_mask_cannot_be_written_into_is_refused_with_the_line(text: str, problem: str) -> None:
    for mask in (CLOCK, []):
        with pytest.raises(GeometryEditError) as caught:
            replace_geometry(text, "gate", [], [], source="site.yaml", mask=mask)
        assert str(caught.value).startswith(problem)
        assert "\n" not in str(caught.value)


def test_a_camera_merging_settings_without_motion_gets_its_own() -> None:
    text = "cameras:\n  - &base\n    id: base\n    url: x\n    detect_fps: 2\n" + (
        "  - <<: *base\n    id: gate\n    url: y\n"
    )
    edited = replace_geometry(text, "gate", [], [], mask=CLOCK)
    assert edited.startswith(text)
    base, gate = parse_config(edited).cameras
    assert (gate.motion.mask, gate.detect_fps, base.motion.mask) == (CLOCK, 2, [])


def test_an_anchor_in_the_replaced_mask_reused_elsewhere_is_refused() -> None:
    text = (
        GATE
        + "    motion:\n      mask: [&clock [[0, 0], [0.2, 0], [0.2, 0.1]]]\n"
        + BACK
        + "    motion:\n      mask: [*clock]\n"
    )
    with pytest.raises(GeometryEditError) as caught:
        replace_geometry(text, "gate", [], [], source="site.yaml", mask=CLOCK)
    assert str(caught.value) == (
        "site.yaml:5: cameras[gate].motion.mask: holds the anchor &clock, reused through *clock on line 9: "
        "replacing the camera's motion.mask would take it away; write that copy out in full, or edit the "
        "file by hand"
    )
    # But back's alias goes with back's own mask, written out in full
    edited = replace_geometry(text, "back", [], [], mask=CLOCK)
    assert (_mask(edited), _mask(edited, 1)) == ([[(0.0, 0.0), (0.2, 0.0), (0.2, 0.1)]], CLOCK)


@pytest.mark.parametrize(
    ("reuse", "line"), [("    motion: *m\n", 8), ("    motion:\n      hold_s: 3\n      <<: *m\n", 10)]
)
def test_an_anchored_motion_reused_elsewhere_is_refused(reuse: str, line: int) -> None:
    text = GATE + "    motion: &m\n      min_area: 0.01\n" + BACK + reuse
    with pytest.raises(GeometryEditError) as caught:
        replace_geometry(text, "gate", [], [], source="site.yaml", mask=CLOCK)
    assert str(caught.value) == (
        f"site.yaml:4: cameras[gate].motion: is anchored as &m and reused through *m on line {line}: saving "
        "the geometry of camera 'gate' here would change that copy too; edit the file by hand"
    )
    # Without a mask, motion is not written, and the geometry is saved
    assert parse_config(replace_geometry(text, "gate", [YARD], [])).cameras[0].zones == [YARD]


MERGED_CAMERA = "cameras:\n  - &gate\n    id: gate\n    url: x\n    motion:\n      min_area: 0.01\n" + (
    "  - <<: *gate\n    id: back\n    url: y\n"
)
"""back takes gate's keys, motion included, through a merge."""


def test_a_camera_merged_into_another_without_its_own_motion_keeps_its_mask() -> None:
    with pytest.raises(GeometryEditError) as caught:
        replace_geometry(MERGED_CAMERA, "gate", [], [], source="site.yaml", mask=CLOCK)
    assert str(caught.value) == (
        "site.yaml:2: cameras[gate]: is anchored as &gate, and the camera on line 7 takes its motion from it "
        "through a merge (<<: *gate): saving it here would change that camera's too; write its own motion "
        "there, or edit the file by hand"
    )
    # Given back writes its own motion, gate's mask reaches no other camera
    text = MERGED_CAMERA + "    motion:\n      min_area: 0.05\n"
    gate, back = parse_config(replace_geometry(text, "gate", [], [], mask=CLOCK)).cameras
    assert (gate.motion.mask, back.motion.mask, back.motion.min_area) == (CLOCK, [], 0.05)
