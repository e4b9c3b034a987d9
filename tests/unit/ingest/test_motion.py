from __future__ import annotations

import cv2
import numpy as np

from gateway.config import MotionConfig
from gateway.domain import Image
from gateway.ingest.motion import MotionGate
from gateway.outline_pixels import pixels_under


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


TREE_MASK = [[(0.625, 0.0), (1.0, 0.0), (1.0, 0.5), (0.625, 0.5)]]
"""Exactly around tree_scene's tree: the mask a user draws around what moves and does not matter."""


def tree_scene(moment: int, square_x: int | None = None) -> Image:
    """A static scene but for a tree in wind at the top right, its leaves in another place each frame."""
    image = scene(square_x=square_x)
    leaves = np.random.default_rng(moment).integers(0, 256, (12, 12), dtype=np.uint8)
    image[0:120, 200:320] = cv2.resize(leaves, (120, 120), interpolation=cv2.INTER_NEAREST)[:, :, None]
    return image


def test_a_tree_in_the_wind_is_motion_on_every_frame_without_a_mask() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.0))
    gate.check(tree_scene(0), 0.0)
    decisions = [gate.check(tree_scene(moment), float(moment)) for moment in range(1, 30)]
    assert all(decision.run_model for decision in decisions)


def test_a_mask_drawn_tight_around_the_tree_keeps_the_scene_still() -> None:
    # The blur spreads the leaves' change a few pixels past the mask's edge: that spread is no
    # motion either, however tight the mask is drawn.
    gate = MotionGate(MotionConfig(hold_s=0.0, mask=TREE_MASK))
    assert gate.check(tree_scene(0), 0.0).run_model
    decisions = [gate.check(tree_scene(moment), float(moment)) for moment in range(1, 30)]
    assert not any(decision.run_model for decision in decisions)
    assert max(decision.changed_fraction for decision in decisions) == 0.0


def test_motion_outside_the_mask_is_still_motion() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.0, mask=TREE_MASK))
    gate.check(tree_scene(0), 0.0)
    assert not gate.check(tree_scene(1), 1.0).run_model
    moving = [
        gate.check(tree_scene(2 + step, square_x=x), 2.0 + step) for step, x in enumerate(range(0, 120, 20))
    ]
    assert all(decision.run_model for decision in moving)


def test_min_area_stays_a_share_of_the_whole_frame_under_a_mask() -> None:
    # A change of some 0.3% of the frame outside a mask over the left half is motion, as without it.
    half = [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]
    spot = scene()
    spot[180:195, 250:265] = 255
    for mask in ([], half):
        gate = MotionGate(MotionConfig(hold_s=0.0, min_area=0.002, mask=mask))
        gate.check(scene(), 0.0)
        decision = gate.check(spot, 1.0)
        assert decision.run_model, mask
        assert 0.002 <= decision.changed_fraction < 0.01, (mask, decision.changed_fraction)


def test_a_change_under_the_mask_is_no_motion_however_large() -> None:
    left = [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]
    gate = MotionGate(MotionConfig(hold_s=0.0, mask=left))
    gate.check(scene(), 0.0)
    flash = scene()
    flash[:, :150] = 255  # a light switched on in the masked half, short of its edge by the blur's reach
    assert not gate.check(flash, 1.0).run_model
    flash[:, :200] = 255  # and past it
    assert gate.check(flash, 2.0).run_model


def test_a_change_where_two_mask_outlines_overlap_is_no_motion() -> None:
    # Drawn together, the overlap of two outlines was filled by the even-odd rule: left unmasked.
    overlapping = [
        [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)],
        [(0.25, 0.0), (0.75, 0.0), (0.75, 1.0), (0.25, 1.0)],
    ]
    gate = MotionGate(MotionConfig(hold_s=0.0, mask=overlapping))
    gate.check(scene(), 0.0)
    flash = scene()
    flash[:, 100:140] = 255  # within both outlines, clear of either's edge by the blur's reach
    assert not gate.check(flash, 1.0).run_model
    flash[:, 260:] = 255  # and in the part neither covers
    assert gate.check(flash, 2.0).run_model


def test_a_new_frame_size_draws_the_mask_again() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.0, mask=TREE_MASK))
    gate.check(tree_scene(0), 0.0)
    gate.reset()  # a reconnect, at another size
    large = [np.asarray(cv2.resize(tree_scene(moment), (640, 480)), dtype=np.uint8) for moment in range(5)]
    assert gate.check(large[0], 10.0).run_model
    assert not any(gate.check(image, 11.0 + index).run_model for index, image in enumerate(large[1:]))


def test_the_mask_is_drawn_where_its_outline_lies_at_any_size() -> None:
    left_quarter = [[(0.0, 0.0), (0.25, 0.0), (0.25, 1.0), (0.0, 1.0)]]
    for width, height in ((160, 120), (161, 90), (17, 9)):
        masked = pixels_under(left_quarter, (height, width))
        columns = np.flatnonzero(masked.any(axis=0))
        # Whole columns from the left edge to the quarter's, within the pixel OpenCV rounds it to.
        assert list(columns) == list(range(columns.size)), width
        assert masked[:, : columns.size].all()
        assert abs(columns.size - width / 4) <= 1, width


def test_a_reloaded_mask_starts_the_background_over_and_the_same_mask_does_not() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.0))
    gate.check(tree_scene(0), 0.0)
    assert gate.check(tree_scene(1), 1.0).run_model
    masked = MotionConfig(hold_s=0.0, mask=TREE_MASK)
    gate.respec(masked)
    assert gate.config is masked
    assert gate.check(tree_scene(2), 2.0).run_model  # the first frame against the new mask
    assert not any(gate.check(tree_scene(moment), float(moment)).run_model for moment in range(3, 10))
    # The same mask again (a reload that changed something else): the background is kept.
    gate.respec(MotionConfig(hold_s=0.0, mask=TREE_MASK))
    assert not gate.check(tree_scene(10), 10.0).run_model
    # The mask taken away: the tree is motion again, after the new background's first frame.
    gate.respec(MotionConfig(hold_s=0.0))
    assert gate.check(tree_scene(11), 11.0).run_model
    assert gate.check(tree_scene(12), 12.0).run_model


def test_the_share_last_changed_is_kept_for_the_cameras_status_and_forgotten_as_the_pixels_are() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.0))
    assert gate.last_changed is None
    gate.check(scene(), 0.0)
    assert gate.last_changed is None  # the first frame is the background, compared with nothing
    decision = gate.check(scene(square_x=100), 1.0)
    assert gate.last_changed == decision.changed_fraction > 0.01
    gate.reset()
    assert gate.last_changed is None
    assert gate.last_changed_pixels is None
    off = MotionGate(MotionConfig(enabled=False))
    off.check(scene(), 0.0)
    off.check(scene(square_x=100), 1.0)
    assert off.last_changed is None
    assert off.last_changed_pixels is None


def test_the_pixels_last_changed_are_kept_for_the_live_views_motion_outlines() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.0, width=160))
    gate.check(scene(), 0.0)
    assert gate.last_changed_pixels is None  # the first frame is the background
    gate.check(scene(square_x=100), 1.0)
    changed = gate.last_changed_pixels
    assert changed is not None
    assert changed.shape == (120, 160)
    # The square (x 100-160, y 90-150 of 320 x 240) is where the change lies, at half the size.
    rows, columns = np.nonzero(changed)
    assert rows.min() >= 40, rows.min()
    assert rows.max() <= 80, rows.max()
    assert columns.min() >= 45, columns.min()
    assert columns.max() <= 85, columns.max()
    gate.check(scene(square_x=100), 2.0)
    assert gate.last_changed_pixels is not changed, "each frame's is its own array"


def test_the_gate_never_writes_into_the_cameras_frame() -> None:
    # A grey frame already at the gate's width is its own small picture; the mask's first-frame
    # pixels go into a copy of it, not into the frame the live view and the model also read.
    gate = MotionGate(MotionConfig(width=160, mask=[[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]))
    first = np.full((90, 160), 60, dtype=np.uint8)
    gate.check(first, 0.0)
    frame = np.full((90, 160), 200, dtype=np.uint8)
    gate.check(frame, 1.0)
    assert (frame == 200).all()
