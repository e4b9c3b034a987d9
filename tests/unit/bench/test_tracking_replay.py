"""The replay harness judges recorded detections as the benchmark does: a detector that finds every
face no pole hides, played through the tracker and the rules, meets the truth on every rule."""

from __future__ import annotations

import pytest

from bench.tracking_clips import Clip
from bench.tracking_replay import Record, replay
from bench.tracking_scenes import scene

SAMPLED_EVERY = 2
"""Every second frame of the 10 fps clip: detect_fps 5, as the benchmark's camera samples."""


def perfect_record(name: str) -> Record:
    scene_name, seed = name.rsplit("-", 1)
    clip = Clip(scene(scene_name, int(seed)))
    return [
        {
            "seq": index + 1,
            "captured_at": 1000.0 + index / clip.spec.fps,
            "detections": [["face", 0.9, *item.box] for item in clip.truth(index) if item.visibility >= 0.5],
        }
        for index in range(0, clip.spec.frame_count, SAMPLED_EVERY)
    ]


@pytest.mark.parametrize("name", ["doorway-0", "loiter-0", "crowd-0"])
def test_a_perfect_detector_replayed_meets_every_rule(name: str) -> None:
    result = replay(name, perfect_record(name))
    assert result.judged_frames == 150
    assert {rule: score["exact"] for rule, score in result.rules.items()} == {
        "crossing": True,
        "loiter": True,
        "count": True,
        "stationary": True,
    }
    assert result.score.id_switches == 0
    assert sum(score["matched"] for score in result.rules.values()) >= 1
