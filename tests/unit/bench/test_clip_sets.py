"""The accuracy benchmark's clip sets stay apart: no seed shared between tuning and hold-out, none
from the retired hold-out draw, and no scene family in both."""

from __future__ import annotations

import pytest

from bench.clip_sets import PALETTES, RETIRED_SEEDS, SEEDS, SETS, clip_set


def _seeds(name: str) -> set[int]:
    return {spec.seed for quick in (False, True) for spec in clip_set(name, quick)}


def test_tuning_and_hold_out_share_no_seed_and_the_hold_out_draws_none_retired() -> None:
    tuning, holdout = _seeds("tuning"), _seeds("holdout")
    assert not tuning & holdout
    assert not holdout & set(RETIRED_SEEDS)
    assert not tuning & set(RETIRED_SEEDS)


@pytest.mark.parametrize("name", SETS)
def test_a_set_draws_its_seeds_from_the_800_after_its_first(name: str) -> None:
    assert all(SEEDS[name] <= seed < SEEDS[name] + 800 for seed in _seeds(name))


def test_tuning_and_hold_out_share_no_scene_family() -> None:
    tuning, holdout = PALETTES["tuning"], PALETTES["holdout"]
    for family in ("backgrounds", "motions", "shapes"):
        assert not set(getattr(tuning, family)) & set(getattr(holdout, family)), family
    assert tuning.lighting != holdout.lighting
    assert tuning.exposure_steps != holdout.exposure_steps
