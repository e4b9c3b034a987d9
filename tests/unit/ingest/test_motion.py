from __future__ import annotations

import numpy as np

from gateway.config import MotionConfig
from gateway.domain import Image
from gateway.ingest.motion import MotionGate


def scene(square_x: int | None = None, noise_seed: int | None = None) -> Image:
    image = np.full((240, 320, 3), 60, dtype=np.uint8)
    if noise_seed is not None:
        noise = np.random.default_rng(noise_seed).integers(-6, 7, image.shape)
        image = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    if square_x is not None:
        image[90:150, square_x : square_x + 60] = 220
    return image


def test_first_frame_runs_then_a_static_scene_is_skipped_after_the_hold() -> None:
    gate = MotionGate(MotionConfig(hold_s=1.0))
    assert gate.check(scene(), 0.0).run_model
    assert gate.check(scene(), 0.5).run_model  # within the hold after the first frame
    decision = gate.check(scene(), 1.5)
    assert not decision.run_model
    assert decision.changed_fraction == 0.0


def test_sensor_noise_is_not_motion() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.0))
    gate.check(scene(noise_seed=0), 0.0)
    assert not any(gate.check(scene(noise_seed=seed), 1.0 + seed).run_model for seed in range(1, 10))


def test_a_moving_object_is_motion_and_the_hold_keeps_it_running_briefly() -> None:
    gate = MotionGate(MotionConfig(hold_s=1.0))
    gate.check(scene(), 0.0)
    assert not gate.check(scene(), 2.0).run_model
    for step, x in enumerate(range(0, 200, 20)):
        decision = gate.check(scene(square_x=x), 3.0 + step * 0.2)
        assert decision.run_model
        assert decision.changed_fraction > 0.01
    last_motion = 3.0 + 9 * 0.2
    # The object stops: the model keeps running for hold_s, then the background absorbs it.
    assert gate.check(scene(square_x=180), last_motion + 0.5).run_model
    still = [gate.check(scene(square_x=180), last_motion + 1.5 + index).run_model for index in range(20)]
    assert not still[-1]


def test_disabled_gate_runs_everything_and_reset_forgets_the_background() -> None:
    disabled = MotionGate(MotionConfig(enabled=False))
    assert all(disabled.check(scene(), float(t)).run_model for t in range(5))
    gate = MotionGate(MotionConfig(hold_s=0.0))
    gate.check(scene(), 0.0)
    assert not gate.check(scene(), 1.0).run_model
    gate.reset()
    assert gate.check(scene(), 2.0).run_model


def test_min_area_sets_how_much_must_change() -> None:
    tiny = scene()
    tiny[0:4, 0:4] = 255  # 16 px of 76,800: far below 0.2 %
    gate = MotionGate(MotionConfig(hold_s=0.0))
    gate.check(scene(), 0.0)
    assert not gate.check(tiny, 1.0).run_model
    sensitive = MotionGate(MotionConfig(hold_s=0.0, min_area=0.0001))
    sensitive.check(scene(), 0.0)
    assert sensitive.check(tiny, 1.0).run_model
