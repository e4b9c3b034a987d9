"""The benchmark's scenes keep the promise their truth relies on: no mover is hidden for as long as
a tracker keeps a lost object (DESIGN.md: misses shorter than ``max_lost_s`` are forgiven), so each
mover is rightly one track from its first frame to its last."""

from __future__ import annotations

import pytest

from bench.tracking import HOLD_OUT_SEEDS, TUNING_SEEDS
from bench.tracking_clips import Clip
from bench.tracking_scenes import SCENES, scene
from bench.tracking_truth import longest_occlusion
from gateway.tracking import TrackerSpec


@pytest.mark.parametrize("seed", [*TUNING_SEEDS, *HOLD_OUT_SEEDS])
@pytest.mark.parametrize("name", SCENES)
def test_no_mover_is_hidden_as_long_as_a_lost_track_is_kept(name: str, seed: int) -> None:
    seconds, mover, since = longest_occlusion(Clip(scene(name, seed)))
    assert seconds < TrackerSpec().max_lost_s, f"{mover} hidden for {seconds:.1f} s from {since:.1f} s"
