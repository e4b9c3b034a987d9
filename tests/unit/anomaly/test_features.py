from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from gateway.anomaly.features import (
    GridSpec,
    cell_peaks,
    fine_cells,
    pool,
    spread_to_fine,
    temporal_noise,
    upper_median,
)
from gateway.anomaly.fitting import fit
from gateway.anomaly.model import SceneModel, Settings
from gateway.anomaly.scoring import cell_scores, raw_scores, residuals, squash

GRID = GridSpec(height=60, width=80, rows=6, columns=8)
Frames = npt.NDArray[np.uint8]


def _scene(seed: int = 1) -> npt.NDArray[np.float32]:
    """Blocks of colour, one per cell, with fine texture in half of them."""
    rng = np.random.default_rng(seed)
    scene = np.repeat(np.repeat(rng.uniform(40, 200, size=(6, 8, 3)), 10, axis=0), 10, axis=1)
    texture = rng.normal(0, 12, size=(60, 80)) * (np.arange(80)[None, :] >= 40)
    return (scene + texture[:, :, None]).astype(np.float32)


def _frames(
    count: int, gains: npt.NDArray[np.float64] | None = None, seed: int = 2, tilt: float = 0.0
) -> Frames:
    """The scene under per-frame gains (and a left-right tilt of the light), with sensor noise."""
    rng = np.random.default_rng(seed)
    scene = _scene()
    gains = np.ones(count) if gains is None else gains
    ramp = 1.0 + tilt * np.linspace(-1.0, 1.0, 80)[None, :, None]
    frames = [scene * gain * ramp + rng.normal(0, 3, size=scene.shape) for gain in gains]
    clipped: Frames = np.clip(np.stack(frames), 0, 255).astype(np.uint8)
    return clipped


def _model(frames: Frames, settings: Settings | None = None) -> SceneModel:
    return fit(
        fine_cells(frames, GRID),
        temporal_noise(frames, GRID),
        cell_peaks(frames, GRID),
        GRID,
        *(() if settings is None else (settings,)),
    )


def _raw(model: SceneModel, frames: Frames) -> npt.NDArray[np.float32]:
    return raw_scores(model, fine_cells(frames, GRID))


def test_grid_must_divide_the_frame() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        GridSpec(height=100, width=80, rows=6, columns=8)


def test_grid_must_tile_the_lighting_regions() -> None:
    with pytest.raises(ValueError, match="rows divisible by 6"):
        GridSpec(height=40, width=80, rows=4, columns=8)


def test_cells_reject_frames_of_another_size() -> None:
    with pytest.raises(ValueError, match=r"\[N, 60, 80, 3\]"):
        fine_cells(np.zeros((1, 30, 80, 3), dtype=np.uint8), GRID)


def test_fit_needs_more_than_one_frame() -> None:
    frames = _frames(1)
    with pytest.raises(ValueError, match="at least 2 frames"):
        _model(frames)


def test_windows_of_each_scale_spread_back_to_the_fine_cells_they_cover() -> None:
    fine = np.arange(48, dtype=np.float32).reshape(1, 6, 8)
    assert pool(fine, "medium").shape == (1, 5, 7)
    assert pool(fine, "coarse").shape == (1, 2, 3)
    # a single hot medium window covers fine cells (2..3, 4..5)
    medium = np.zeros((1, 5, 7), dtype=np.float32)
    medium[0, 2, 4] = 1.0
    assert np.argwhere(spread_to_fine(medium, "medium")[0] == 1.0).tolist() == [
        [2, 4],
        [2, 5],
        [3, 4],
        [3, 5],
    ]
    # a coarse window (stride two cells, four cells wide) covers 4 x 4 fine cells
    coarse = np.zeros((1, 2, 3), dtype=np.float32)
    coarse[0, 1, 2] = 1.0
    assert int((spread_to_fine(coarse, "coarse")[0] == 1.0).sum()) == 16


def test_upper_median_is_the_upper_middle_value() -> None:
    assert upper_median(np.asarray([[4.0, 1.0, 3.0, 2.0]], dtype=np.float32)).tolist() == [3.0]


def test_temporal_noise_measures_the_sensor_not_the_scene() -> None:
    frames = _frames(10)
    noise = temporal_noise(frames, GRID)
    assert noise.shape == (9, 6, 8)
    # sensor noise 3 per channel is about 2.2 in grey; the scene's texture (12) does not count
    assert 1.5 < float(np.median(noise)) < 3.0


def test_global_lighting_change_is_not_an_anomaly() -> None:
    # Given a model enrolled at normal brightness
    model = _model(_frames(40))
    # When the whole scene gets 40% darker or 30% brighter
    shifted = _frames(4, np.array([0.6, 0.8, 1.2, 1.3]), seed=3)
    # Then no frame reaches the threshold
    assert _raw(model, shifted).max() < 1.0


def test_a_smooth_change_of_light_across_the_frame_is_not_an_anomaly() -> None:
    model = _model(_frames(40))
    assert _raw(model, _frames(3, seed=3, tilt=0.12)).max() < 1.0


def test_an_object_is_an_anomaly_located_in_its_cell() -> None:
    model = _model(_frames(40))
    frame = _frames(1, seed=4)
    frame[0, 20:30, 50:60] = (255 - frame[0, 20:30, 50:60].astype(np.int32)).astype(np.uint8)
    cells = cell_scores(model, fine_cells(frame, GRID))[0]
    assert cells.max() >= 1.0
    row, column = np.unravel_index(int(cells.argmax()), cells.shape)
    assert (int(row), int(column)) == (2, 5)


def test_a_flat_object_of_the_ground_s_own_colour_shows_by_its_missing_texture() -> None:
    # Given textured ground on the right half of the scene
    model = _model(_frames(40))
    frame = _frames(1, seed=5)
    # When a flat object of exactly the ground's mean colour covers a cell there
    frame[0, 30:40, 60:70] = frame[0, 30:40, 60:70].reshape(-1, 3).mean(axis=0).astype(np.uint8)
    # Then the cell is anomalous
    assert cell_scores(model, fine_cells(frame, GRID))[0, 3, 6] >= 1.0


def test_a_cell_that_flickers_during_enrollment_learns_its_own_wide_spread() -> None:
    # Given a cell whose brightness jumps by up to 25% from frame to frame (a lamp, leaves)
    frames = _frames(60, seed=6)
    rng = np.random.default_rng(7)
    flicker = rng.choice([0.8, 1.0, 1.25], size=60)
    frames[:, 0:10, 0:10] = np.clip(frames[:, 0:10, 0:10] * flicker[:, None, None, None], 0, 255).astype(
        np.uint8
    )
    model = _model(frames)
    # When it keeps flickering like that
    later = _frames(3, seed=8)
    later[:, 0:10, 0:10] = np.clip(
        later[:, 0:10, 0:10] * np.asarray([0.8, 1.25, 0.8])[:, None, None, None], 0, 255
    ).astype(np.uint8)
    # Then nothing fires, while the same jump in a quiet cell would
    assert _raw(model, later).max() < 1.0
    quiet = _frames(1, seed=9)
    quiet[0, 10:20, 10:20] = np.clip(quiet[0, 10:20, 10:20] * 1.25, 0, 255).astype(np.uint8)
    assert cell_scores(model, fine_cells(quiet, GRID))[0, 1, 1] >= 1.0


def test_surfaces_that_saturate_in_brighter_light_are_not_an_anomaly() -> None:
    # Given bright cells (near 200) enrolled under normal light
    model = _model(_frames(40))
    # When the light rises so that they clip at 255
    brighter = _frames(2, np.array([1.45, 1.5]), seed=10)
    assert (brighter == 255).any()
    assert _raw(model, brighter).max() < 1.0


def test_cell_peaks_are_the_level_of_the_brightest_twentieth_of_each_cell() -> None:
    frames = np.full((1, 60, 80, 3), 100, dtype=np.uint8)
    frames[0, 0, :5, 0] = 200  # cell (0, 0): five of its hundred pixels bright in blue
    frames[0, 0, 10:14, 1] = 200  # cell (0, 1): four bright pixels in green, fewer than a twentieth
    peaks = cell_peaks(frames, GRID)
    assert peaks.shape == (1, 3, 6, 8)
    assert peaks[0, :, 0, 0].tolist() == [200.0, 100.0, 100.0]
    assert peaks[0, :, 0, 1].tolist() == [100.0, 100.0, 100.0]


def _lamp(frames: Frames, levels: npt.NDArray[np.float64]) -> Frames:
    """A textured lamp around grey 150 over cells (2..3, 4..5) and one pixel beyond (so that their
    texture is the lamp's alone), at ``levels`` of its brightness."""
    rng = np.random.default_rng(11)
    lamp = 150.0 + rng.normal(0, 8, size=(21, 21, 1))
    lit = frames.astype(np.float64)
    sensor = rng.normal(0, 3, size=(len(levels), 21, 21, 3))
    lit[:, 20:41, 40:61] = lamp * levels[:, None, None, None] + sensor
    clipped: Frames = np.clip(lit, 0, 255).astype(np.uint8)
    return clipped


def test_texture_is_not_compared_where_a_flickering_lamp_clips_in_brighter_light() -> None:
    # Given a textured lamp that jumps 0.75x..1.35x, enrolled under gains 0.9..1.1
    rng = np.random.default_rng(12)
    gains = rng.uniform(0.9, 1.1, size=60)
    levels = rng.choice([0.75, 1.0, 1.0, 1.35], size=60) * gains
    enrolled = _lamp(_frames(60, gains, seed=13), levels)
    # When the light rises 1.4x while the lamp is at its brightest: it clips to a flat white, though
    # its usual colour under that light (210) is below the saturation test's 240
    brighter = _frames(1, np.array([1.4]), seed=14)
    usual = fine_cells(_lamp(brighter, np.array([1.4])), GRID)
    later = fine_cells(_lamp(brighter, np.array([1.4 * 1.35])), GRID)
    assert usual[0, 3, 2:4, 4:6].min() > 10
    assert later[0, 3, 2:4, 4:6].max() < 10  # its texture is gone
    # Then its lost texture is not compared: the saturation test takes the brightest the lamp was at
    # enrollment, not its usual level; without that the lamp's cells would be far out
    found, _ = residuals(_model(enrolled), later)
    assert np.all(found["fine"][0, 3, 2:4, 4:6] == 0.0)
    unaware, _ = residuals(_model(enrolled, Settings(headroom=False, pixel_peaks=False)), later)
    assert np.all(unaware["fine"][0, 3, 2:4, 4:6] < -0.5)


def test_texture_clipped_through_most_of_the_enrollment_is_never_compared() -> None:
    # Given a textured surface so bright that it clips to white in every enrollment frame
    def glare(frames: Frames, gain: float) -> Frames:
        lit = frames.astype(np.float64)
        surface = 245.0 + np.random.default_rng(15).normal(0, 25, size=(20, 20, 1))
        lit[:, 0:20, 60:80] = surface * gain
        clipped: Frames = np.clip(lit, 0, 255).astype(np.uint8)
        return clipped

    model = _model(glare(_frames(40), 1.0))
    assert np.isinf(model.fine.peak[:, 0:2, 6:8]).all()
    # When the light falls by a third and the surface shows its texture for the first time
    darker = fine_cells(glare(_frames(1, np.array([0.67]), seed=16), 0.67), GRID)
    # Then that texture is not compared with one nobody saw
    found, _ = residuals(model, darker)
    assert np.all(found["fine"][0, 3, 0:2, 6:8] == 0.0)


def test_thresholds_have_a_floor_and_every_enrollment_score_is_below_the_threshold() -> None:
    frames = _frames(40)
    model = _model(frames)
    assert all(scale.threshold >= 5.0 for scale in model.scales)
    assert [scale.scale for scale in model.scales] == ["fine", "medium", "coarse"]
    assert _raw(model, frames).max() < 1.0
    assert model.frames == 40


def test_squash_puts_the_threshold_at_one_half() -> None:
    raw = np.array([0.0, 0.5, 1.0, 10.0], dtype=np.float32)
    assert squash(raw).tolist() == pytest.approx([0.0, 1 / 3, 0.5, 10 / 11])


def test_the_light_is_measured_on_the_cells_that_do_not_clip() -> None:
    # Given the scene enrolled under gains around 1
    gains = np.random.default_rng(19).uniform(0.95, 1.05, size=40)
    enrolled = _frames(40, gains)
    # When the light rises 2.4x, so that half the cells clip in each channel
    brighter = fine_cells(_frames(1, np.array([2.4]), seed=20), GRID)
    assert np.all((brighter[0, :3] >= 240).mean(axis=(1, 2)) > 0.4)
    # Then the gain is measured on the cells still below white: close to the true log(2.4)
    _, lighting = residuals(_model(enrolled), brighter)
    assert np.all(np.abs(lighting.gain[0] - np.log(2.4)) < 0.05)
    _, biased = residuals(_model(enrolled, Settings(unclipped_gain=False)), brighter)
    assert np.all(biased.gain[0] < np.log(2.4) - 0.1)
