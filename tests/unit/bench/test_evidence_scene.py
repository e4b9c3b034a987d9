"""The evidence and frame-shrink benchmarks' scene: any number of frames, the same frames however
many are asked for."""

from __future__ import annotations

import numpy as np
import pytest

from bench.evidence import scene_frames


@pytest.mark.parametrize("count", [1, 2])
def test_a_scene_of_a_frame_or_two_is_made(count: int) -> None:
    frames = scene_frames(count, 640, 360, noise=4, foliage=False)

    assert len(frames) == count
    assert frames[0].shape == (360, 640, 3)


def test_the_first_frames_are_the_same_however_many_are_asked_for() -> None:
    few = scene_frames(2, 640, 360, noise=4, foliage=True)
    many = scene_frames(8, 640, 360, noise=4, foliage=True)

    assert all(np.array_equal(one, other) for one, other in zip(few, many, strict=False))
