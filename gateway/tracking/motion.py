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

    def add(self, boxes: Array, origins: Array, elapsed: Array) -> None:
        """Start a filter per box (rows ``x1, y1, x2, y2``) with a wide velocity prior, its centre
        moving as it did from its ``origins`` box ``elapsed`` seconds before (at rest where that is 0).
        Sizes start at rest: their rates from two boxes would be the detector's jitter."""
        position = corners_to_centre(boxes)
        scale = position[:, 3:4] * np.ones((1, 4))
        velocity = np.zeros_like(position)
        moved = elapsed > 0.0
        travelled = position[moved, :2] - corners_to_centre(origins[moved])[:, :2]
        velocity[moved, :2] = travelled / elapsed[moved, None]
        self.position = np.concatenate([self.position, position])
        self.velocity = np.concatenate([self.velocity, velocity])
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
        if coasting.any():
            self.velocity[coasting, 2:] = 0.0
        noise = (self._acceleration * self.position[:, 3:4]) ** 2
        self.position = self.position + self.velocity * dt
        np.maximum(self.position[:, 2:], MIN_SIZE, out=self.position[:, 2:])
        self._var_position = (
            self._var_position
            + (2.0 * dt) * self._covariance
            + (dt * dt) * self._var_velocity
            + noise * (dt**3 / 3.0)
        )
        self._covariance = self._covariance + dt * self._var_velocity + noise * (dt * dt / 2.0)
        self._var_velocity = self._var_velocity + noise * dt

    def correct(self, rows: npt.NDArray[np.intp], boxes: Array) -> None:
        """Fold the observed ``boxes`` (``x1, y1, x2, y2``) into the filters at ``rows``."""
        if not rows.size:
            return
        # Whole-array arithmetic with zero gain on the rows not observed is cheaper than indexing
        # every array by ``rows`` (a handful of boxes or fifty, the cost hardly changes).
        observed = self.position.copy()
        observed[rows] = corners_to_centre(boxes)
        matched = np.zeros((len(self), 1))
        matched[rows] = 1.0
        innovation_var = self._var_position + (self._measurement * self.position[:, 3:4]) ** 2
        gain_position = matched * self._var_position / innovation_var
        gain_velocity = matched * self._covariance / innovation_var
        residual = observed - self.position
        self.position = self.position + gain_position * residual
        self.velocity = self.velocity + gain_velocity * residual
        np.maximum(self.position[:, 2:], MIN_SIZE, out=self.position[:, 2:])
        self._var_velocity = self._var_velocity - gain_velocity * self._covariance
        self._var_position = (1.0 - gain_position) * self._var_position
        self._covariance = (1.0 - gain_position) * self._covariance

    def boxes(self) -> Array:
        """Where each filter expects its box: rows ``x1, y1, x2, y2``."""
        return centre_to_corners(self.position)


def corners_to_centre(boxes: Array) -> Array:
    size = np.maximum(boxes[:, 2:] - boxes[:, :2], MIN_SIZE)
    return np.concatenate([boxes[:, :2] + size / 2.0, size], axis=1)


def centre_to_corners(position: Array) -> Array:
    half = position[:, 2:] / 2.0
    return np.concatenate([position[:, :2] - half, position[:, :2] + half], axis=1)
