from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from gateway.anomaly.features import GridSpec, cell_features, cell_scores, fit, raw_scores, squash

GRID = GridSpec(height=60, width=80, rows=6, columns=8)


def _scene(seed: int = 1) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    scene = np.repeat(np.repeat(rng.uniform(40, 200, size=(6, 8, 3)), 10, axis=0), 10, axis=1)
    return scene.astype(np.float32)


def _frames(count: int, gains: npt.NDArray[np.float64] | None = None, seed: int = 2) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    scene = _scene()
    gains = np.ones(count) if gains is None else gains
    frames = [scene * gain + rng.normal(0, 3, size=scene.shape) for gain in gains]
    clipped: npt.NDArray[np.uint8] = np.clip(np.stack(frames), 0, 255).astype(np.uint8)
    return clipped


def test_grid_must_divide_the_frame() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        GridSpec(height=100, width=80, rows=6, columns=8)


def test_features_reject_frames_of_another_size() -> None:
    with pytest.raises(ValueError, match=r"\[N, 60, 80, 3\]"):
        cell_features(np.zeros((1, 30, 80, 3), dtype=np.uint8), GRID)


def test_fit_needs_more_than_one_frame() -> None:
    with pytest.raises(ValueError, match="at least 2 frames"):
        fit(cell_features(_frames(1), GRID), GRID)


def test_global_lighting_change_is_not_an_anomaly() -> None:
    # Given a model enrolled at normal brightness
    model = fit(cell_features(_frames(40), GRID), GRID)
    # When the whole scene gets 40% darker or 30% brighter
    shifted = _frames(4, np.array([0.6, 0.8, 1.2, 1.3]), seed=3)
    # Then no frame reaches the threshold
    assert raw_scores(model, cell_features(shifted, GRID)).max() < model.raw_threshold


def test_an_object_is_an_anomaly_located_in_its_cell() -> None:
    model = fit(cell_features(_frames(40), GRID), GRID)
    frame = _frames(1, seed=4)
    frame[0, 20:30, 50:60] = (255 - frame[0, 20:30, 50:60].astype(np.int32)).astype(np.uint8)
    features = cell_features(frame, GRID)
    assert raw_scores(model, features)[0] >= model.raw_threshold
    cells = cell_scores(model, features)[0]
    row, column = np.unravel_index(int(cells.argmax()), cells.shape)
    assert (int(row), int(column)) == (2, 5)


def test_threshold_has_a_floor_and_is_above_every_enrollment_score() -> None:
    features = cell_features(_frames(40), GRID)
    model = fit(features, GRID)
    assert model.raw_threshold >= 6.0
    assert raw_scores(model, features).max() < model.raw_threshold
    assert model.frames == 40


def test_squash_puts_the_threshold_at_one_half() -> None:
    raw = np.array([0.0, 4.0, 8.0, 80.0], dtype=np.float32)
    squashed = squash(raw, 8.0)
    assert squashed.tolist() == pytest.approx([0.0, 1 / 3, 0.5, 80 / 88])
