"""A camera's motion mask: outlines checked as zones are, each on its own line, and a mask that
leaves no part of the frame refused, since the model would then see the first frame and no other."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.config import parse_config
from gateway.config.motion_mask import leaves_frame_uncovered
from gateway.errors import ConfigError

CAMERA = """\
cameras:
  - id: gate
    url: clip.mp4
    motion:
"""


def _problems(motion: str) -> list[str]:
    try:
        parse_config(CAMERA + motion, "gateway.yaml")
    except ConfigError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def test_a_mask_of_outlines_is_taken() -> None:
    config = parse_config(
        CAMERA + "      mask:\n        - [[0, 0], [0.4, 0], [0.4, 0.08], [0, 0.08]]\n"
        "        - [[0.6, 0], [1, 0], [1, 0.5]]\n",
        "gateway.yaml",
    )
    assert config.cameras[0].motion.mask == [
        [(0.0, 0.0), (0.4, 0.0), (0.4, 0.08), (0.0, 0.08)],
        [(0.6, 0.0), (1.0, 0.0), (1.0, 0.5)],
    ]
    assert parse_config(CAMERA + "      enabled: true\n", "gateway.yaml").cameras[0].motion.mask == []


def test_an_outline_that_crosses_itself_is_named_on_its_line() -> None:
    problems = _problems(
        "      mask:\n        - [[0, 0], [0.4, 0], [0.4, 0.08]]\n        - [[0, 0], [1, 1], [1, 0], [0, 1]]\n"
    )
    assert problems == [
        "gateway.yaml:7: cameras[0].motion.mask[1]: mask outline crosses itself: the edge [0, 0]-[1, 1] "
        "meets the edge [1, 0]-[0, 1]; list the points in order around the outline"
    ]


@pytest.mark.parametrize(
    ("outline", "message"),
    [
        ("[[0, 0], [1, 1]]", "needs at least 3 entries, got 2"),
        ("[[0, 0], [0.5, 0.5], [1, 1]]", "mask outline has no area: its points repeat or lie on one line"),
        ("[[0, 0], [1.5, 0], [1, 1]]", "must be at most 1, got 1.5"),
    ],
)
def test_an_outline_that_cannot_mask_anything_is_named(outline: str, message: str) -> None:
    problems = _problems(f"      mask:\n        - {outline}\n")
    assert len(problems) == 1
    assert message in problems[0]
    assert problems[0].startswith("gateway.yaml:6: cameras[0].motion.mask[0]")


def test_a_mask_over_the_whole_frame_is_refused_on_the_masks_line() -> None:
    halves = (
        "      mask:\n        - [[0, 0], [0.6, 0], [0.6, 1], [0, 1]]\n"
        "        - [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]\n"
    )
    assert _problems(halves) == [
        "gateway.yaml:5: cameras[0].motion.mask: covers the whole frame, so no change could ever be "
        "motion; leave part of the frame unmasked, or set enabled: false to run the model on every "
        "sampled frame"
    ]
    # With gating off the mask is not used: nothing to refuse.
    assert _problems("      enabled: false\n" + halves) == []


def test_too_many_outlines_are_refused_before_each_is_checked() -> None:
    outline = "        - [[0, 0], [0.01, 0], [0.01, 0.01]]\n"
    problems = _problems("      mask:\n" + outline * 65)
    assert len(problems) == 1
    assert "cameras[0].motion.mask: takes at most 64 entries, got 65" in problems[0], problems


@pytest.mark.parametrize(
    ("outlines", "uncovered"),
    [
        ([[(0, 0), (1, 0), (1, 1), (0, 1)]], False),
        ([[(0, 0), (1, 0), (1, 0.98), (0, 0.98)]], True),  # a strip 2% high along the bottom
        ([[(0, 0), (0.6, 0), (0.6, 1), (0, 1)], [(0.4, 0), (1, 0), (1, 1), (0.4, 1)]], False),
        ([[(0, 0), (0.49, 0), (0.49, 1), (0, 1)], [(0.51, 0), (1, 0), (1, 1), (0.51, 1)]], True),
        # An L over all but the bottom right corner, then a triangle over half of that corner.
        ([[(0, 0), (1, 0), (1, 0.5), (0.5, 0.5), (0.5, 1), (0, 1)], [(0.5, 0.5), (1, 0.5), (1, 1)]], True),
        (
            [
                [(0, 0), (1, 0), (1, 0.5), (0.5, 0.5), (0.5, 1), (0, 1)],
                [(0.5, 0.5), (1, 0.5), (1, 1), (0.5, 1)],
            ],
            False,
        ),
        # A diamond touching each edge's middle leaves the corners.
        ([[(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)]], True),
    ],
)
def test_whether_outlines_leave_part_of_the_frame(
    outlines: list[list[tuple[float, float]]], uncovered: bool
) -> None:
    assert leaves_frame_uncovered(outlines) is uncovered


def test_one_outline_written_without_its_list_is_told_how_to_write_it() -> None:
    # Before, each of its numbers was named "must be a list": six lines for one slip.
    assert _problems("      mask: [[0, 0], [0.4, 0], [0.4, 1e-1]]\n") == [
        "gateway.yaml:5: cameras[0].motion.mask: takes a list of outlines, and this is one outline's "
        "points: write it inside a list, [[[0, 0], [0.4, 0], [0.4, 0.1]]]"
    ]


def test_opencv_is_loaded_only_to_check_a_mask() -> None:
    # The audit service reads configs too: OpenCV loaded with them cost it 16 MB of memory.
    unmasked = CAMERA + "      enabled: true\n"
    masked = CAMERA + "      mask: [[[0, 0], [0.4, 0], [0.4, 0.1]]]\n"
    script = (
        "import sys\n"
        "from gateway.config import parse_config\n"
        f"parse_config({unmasked!r}, 'gateway.yaml')\n"
        "import gateway.commands.audit_check, gateway.audit.http\n"
        "assert 'cv2' not in sys.modules, 'loaded without a mask'\n"
        f"parse_config({masked!r}, 'gateway.yaml')\n"
        "assert 'cv2' in sys.modules, 'the mask not drawn'\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
