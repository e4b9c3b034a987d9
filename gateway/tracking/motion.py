"""Constant-velocity Kalman filters for many boxes at once, with a real time step.

The state of a box is its centre, width and height ``(cx, cy, w, h)`` in normalised image
coordinates and their rates of change per second. With a diagonal measurement noise and a process
noise that is white acceleration on each coordinate alone (as ByteTrack's filter has), the four
coordinates never couple, so the 8x8 filter falls apart into four 2x2 filters (position, velocity)
per box. Their covariances are three numbers each, kept as (boxes, 4) arrays, and every step is a few
element-wise numpy operations over all boxes: no matrix products, no inversions, the same cost for
one box as for fifty.

Noise is proportional to the box height (an object near the camera is large and moves many pixels
per second; one far away is small and slow), as in ByteTrack, but in units per second rather than
per frame, so a dropped frame only means a longer step ``dt`` with more uncertainty.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

MIN_SIZE = 1e-4
"""Widths and heights never shrink below this (a predicted box of zero area matches nothing)."""


class MotionModel:
    """Kalman filters of the boxes a tracker follows, one row per track, in the tracker's order."""

    def __init__(self, acceleration: float, measurement: float, initial_velocity: float) -> None:
        """``acceleration``: standard deviation of the unmodelled acceleration, box heights per s²;
        ``measurement``: of a detector's box coordinates, box heights; ``initial_velocity``: of a new
        box's (unknown) velocity, box heights per second."""
        self._acceleration = acceleration
        self._measurement = measurement
        self._initial_velocity = initial_velocity
        empty = np.zeros((0, 4))
        self.position: Array = empty
        self.velocity: Array = empty.copy()
        self._var_position: Array = empty.copy()
        self._covariance: Array = empty.copy()
        self._var_velocity: Array = empty.copy()

    def __len__(self) -> int:
        return int(self.position.shape[0])

    def add(self, boxes: Array) -> None:
        """Start a filter per box (rows ``x1, y1, x2, y2``), at rest with a wide velocity prior."""
        position = corners_to_centre(boxes)
        scale = position[:, 3:4] * np.ones((1, 4))
        self.position = np.concatenate([self.position, position])
        self.velocity = np.concatenate([self.velocity, np.zeros_like(position)])
        self._var_position = np.concatenate([self._var_position, (self._measurement * scale) ** 2])
        self._covariance = np.concatenate([self._covariance, np.zeros_like(position)])
        self._var_velocity = np.concatenate([self._var_velocity, (self._initial_velocity * scale) ** 2])

    def keep(self, rows: npt.NDArray[np.bool_]) -> None:
        """Drop the filters whose row is False."""
        self.position = self.position[rows]
        self.velocity = self.velocity[rows]
        self._var_position = self._var_position[rows]
        self._covariance = self._covariance[rows]
        self._var_velocity = self._var_velocity[rows]

    def predict(self, dt: float, coasting: npt.NDArray[np.bool_]) -> None:
        """Move every filter ``dt`` seconds ahead. Rows in ``coasting`` (not observed last time) stop
        changing size, as in ByteTrack: a box shrinking or growing through an occlusion matches nothing."""
        if dt <= 0.0 or not len(self):
            return
        self.velocity[coasting, 2:] = 0.0
        scale = self.position[:, 3:4]
        noise = (self._acceleration * scale) ** 2
        self.position = self.position + self.velocity * dt
        self.position[:, 2:] = np.maximum(self.position[:, 2:], MIN_SIZE)
        self._var_position = (
            self._var_position
            + 2.0 * dt * self._covariance
            + dt * dt * self._var_velocity
            + noise * dt**3 / 3.0
        )
        self._covariance = self._covariance + dt * self._var_velocity + noise * dt * dt / 2.0
        self._var_velocity = self._var_velocity + noise * dt

    def correct(self, rows: npt.NDArray[np.intp], boxes: Array) -> None:
        """Fold the observed ``boxes`` (``x1, y1, x2, y2``) into the filters at ``rows``."""
        if not rows.size:
            return
        observed = corners_to_centre(boxes)
        scale = self.position[rows, 3:4]
        var_position, covariance = self._var_position[rows], self._covariance[rows]
        innovation_var = var_position + (self._measurement * scale) ** 2
        gain_position = var_position / innovation_var
        gain_velocity = covariance / innovation_var
        residual = observed - self.position[rows]
        self.position[rows] += gain_position * residual
        self.velocity[rows] += gain_velocity * residual
        self.position[rows, 2:] = np.maximum(self.position[rows, 2:], MIN_SIZE)
        self._var_velocity[rows] -= gain_velocity * covariance
        self._var_position[rows] = (1.0 - gain_position) * var_position
        self._covariance[rows] = (1.0 - gain_position) * covariance

    def boxes(self) -> Array:
        """Where each filter expects its box: rows ``x1, y1, x2, y2``."""
        return centre_to_corners(self.position)


def corners_to_centre(boxes: Array) -> Array:
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return np.stack(
        [
            boxes[:, 0] + width / 2.0,
            boxes[:, 1] + height / 2.0,
            np.maximum(width, MIN_SIZE),
            np.maximum(height, MIN_SIZE),
        ],
        axis=1,
    )


def centre_to_corners(position: Array) -> Array:
    half_width, half_height = position[:, 2] / 2.0, position[:, 3] / 2.0
    return np.stack(
        [
            position[:, 0] - half_width,
            position[:, 1] - half_height,
            position[:, 0] + half_width,
            position[:, 1] + half_height,
        ],
        axis=1,
    )
