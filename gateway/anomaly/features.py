"""Cell statistics of frames for the scene-anomaly model (numpy): what a frame looks like, per window
of a fixed grid at three scales.

The frame (uint8 BGR at the model's size) is cut into fine cells (10 x 10 pixels at 320 x 180, an
18 x 32 grid). Per cell, linear (not log) means of four channels: blue, green, red and texture, the
mean absolute grey gradient ``|dx| + |dy|`` (BT.601 luma, edge-padded at the far side). Windows of
the two coarser scales are averages of fine cells, so every scale sees the same pixels:

- ``fine``: one cell (10 x 10 pixels), rows x columns;
- ``medium``: 2 x 2 cells (20 x 20 pixels) at a one-cell stride, (rows - 1) x (columns - 1): a small
  object straddling four fine cells lies whole inside one medium window;
- ``coarse``: 4 x 4 cells (40 x 40 pixels) at a two-cell stride, (rows / 2 - 1) x (columns / 2 - 1):
  a large faint or motion-blurred object is averaged over sixteen times the pixels, so its few grey
  levels stand out of the noise.

Lighting is modelled on smooth fields over the frame (``lighting.py``); ``basis`` gives each window's
coordinates in the quadratic basis ``1, x, y, x^2, xy, y^2`` (x, y in -1..1 over the frame), and
``regions`` the 6 x 8 partition of the fine grid the lighting fit starts from.

Camera noise, for the texture channel. At enrollment (``temporal_noise``): per fine cell, the robust
deviation of a pixel's grey level between consecutive frames; the median over the cell's pixels
ignores the few that a one-pixel camera shake moves an edge across. In every frame (the ``grain``
channel): the mean |Laplacian| per cell; its median over cells, relative to enrollment's, says how
much noisier the camera is now (a darker scene, a higher gain, another encoder setting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
FrameBatch = npt.NDArray[np.uint8]
"""Frames [N, H, W, 3], BGR, uint8, at the model's size."""

CHANNELS = ("blue", "green", "red", "texture")
"""The channels the model scores; ``fine_cells`` adds a fifth, ``grain``, that it only measures."""
COLOURS = 3
GRAIN = 4
"""Channel of ``fine_cells``: mean |Laplacian| of grey, whose median over cells tracks the noise."""
LAPLACIAN = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))
"""Immerkær's noise-estimation kernel: blind to flat areas and linear ramps, it sees mostly noise."""
GREY_WEIGHTS = (0.114, 0.587, 0.299)
"""BT.601 luma weights in BGR order, as cv2.cvtColor uses."""
SCALES = ("fine", "medium", "coarse")
REGION_ROWS = 6
REGION_COLUMNS = 8
MAD_TO_DEVIATION = 1.4826

"""The median absolute deviation of a normal distribution times this is its standard deviation."""
PEAK_SHARE = 0.05
"""``cell_peaks``: the share of a cell's pixels counted as its bright part."""


@dataclass(frozen=True, slots=True)
class GridSpec:
    """Model input size and fine grid. The height and width must be multiples of the grid; rows an
    even multiple of 6 and columns a multiple of 8, so coarse windows and the 6 x 8 lighting
    regions tile it."""

    height: int = 180
    width: int = 320
    rows: int = 18
    columns: int = 32

    def __post_init__(self) -> None:
        if self.height % self.rows or self.width % self.columns:
            raise ValueError(
                f"frame {self.width}x{self.height} is not divisible by the {self.columns}x{self.rows} grid"
            )
        if self.rows % REGION_ROWS or self.rows % 2 or self.columns % REGION_COLUMNS:
            raise ValueError(
                f"a {self.columns}x{self.rows} grid needs even rows divisible by 6 and columns by 8"
            )

    @property
    def cell_height(self) -> int:
        return self.height // self.rows

    @property
    def cell_width(self) -> int:
        return self.width // self.columns

    @property
    def cells(self) -> int:
        return self.rows * self.columns

    def shape(self, scale: str) -> tuple[int, int]:
        """(rows, columns) of the windows of ``scale``."""
        if scale == "fine":
            return self.rows, self.columns
        if scale == "medium":
            return self.rows - 1, self.columns - 1
        if scale == "coarse":
            return self.rows // 2 - 1, self.columns // 2 - 1
        raise ValueError(f"unknown scale {scale!r}")

    def centres(self, scale: str) -> tuple[FloatArray, FloatArray]:
        """x and y of every window's centre in -1..1, row-major, as flat arrays."""
        rows, columns = self.shape(scale)
        # window centres in fine-cell units: cell i spans [i, i + 1)
        offset, stride = {"fine": (0.5, 1.0), "medium": (1.0, 1.0), "coarse": (2.0, 2.0)}[scale]
        ys = (offset + stride * np.arange(rows)) / self.rows * 2.0 - 1.0
        xs = (offset + stride * np.arange(columns)) / self.columns * 2.0 - 1.0
        y, x = np.meshgrid(ys, xs, indexing="ij")
        return x.reshape(-1).astype(np.float32), y.reshape(-1).astype(np.float32)

    def region_centres(self) -> tuple[FloatArray, FloatArray]:
        ys = (np.arange(REGION_ROWS) + 0.5) / REGION_ROWS * 2.0 - 1.0
        xs = (np.arange(REGION_COLUMNS) + 0.5) / REGION_COLUMNS * 2.0 - 1.0
        y, x = np.meshgrid(ys, xs, indexing="ij")
        return x.reshape(-1).astype(np.float32), y.reshape(-1).astype(np.float32)


def quadratic_basis(x: FloatArray, y: FloatArray, terms: int) -> FloatArray:
    """[points, terms]: the first ``terms`` of ``1, x, y, x^2, xy, y^2``."""
    columns = [np.ones_like(x), x, y, x * x, x * y, y * y]
    return np.stack(columns[:terms], axis=1).astype(np.float32)


def basis(grid: GridSpec, scale: str, terms: int) -> FloatArray:
    return quadratic_basis(*grid.centres(scale), terms)


def region_basis(grid: GridSpec, terms: int) -> FloatArray:
    return quadratic_basis(*grid.region_centres(), terms)


def _check(frames: FrameBatch, grid: GridSpec) -> None:
    if frames.ndim != 4 or frames.shape[1:] != (grid.height, grid.width, 3):
        raise ValueError(f"frames must be [N, {grid.height}, {grid.width}, 3], got {list(frames.shape)}")


def check_cells(cells: FloatArray, grid: GridSpec) -> None:
    """ValueError unless ``cells`` are ``fine_cells`` of ``grid``: frames measured on another grid
    would otherwise meet the model's arrays in a numpy broadcast that names neither."""
    expected = (GRAIN + 1, grid.rows, grid.columns)
    if cells.ndim != 4 or cells.shape[1:] != expected:
        raise ValueError(
            f"cells must be [N, {', '.join(map(str, expected))}] (fine cells of the model's "
            f"{grid.rows}x{grid.columns} grid), got {list(cells.shape)}"
        )


def _grey(frames: FrameBatch) -> FloatArray:
    grey: FloatArray = frames.astype(np.float32) @ np.asarray(GREY_WEIGHTS, dtype=np.float32)
    return grey


def fine_cells(frames: FrameBatch, grid: GridSpec) -> FloatArray:
    """[N, H, W, 3] uint8 -> linear cell means [N, 5, rows, columns]: blue, green, red, texture and
    grain (float32, as the graph has them)."""
    _check(frames, grid)
    count = frames.shape[0]
    pixels = frames.astype(np.float32)
    shape = (count, grid.rows, grid.cell_height, grid.columns, grid.cell_width)
    colour = pixels.reshape(*shape, 3).mean(axis=(2, 4), dtype=np.float32).transpose(0, 3, 1, 2)
    grey = _grey(frames)
    padded = np.pad(grey, ((0, 0), (0, 1), (0, 1)), mode="edge")
    gradient = np.abs(padded[:, :-1, 1:] - padded[:, :-1, :-1]) + np.abs(
        padded[:, 1:, :-1] - padded[:, :-1, :-1]
    )
    texture = gradient.reshape(shape).mean(axis=(2, 4), dtype=np.float32)
    around = np.pad(grey, ((0, 0), (1, 1), (1, 1)), mode="edge")
    laplacian = np.zeros_like(grey)
    for row, weights in enumerate(LAPLACIAN):
        for column, weight in enumerate(weights):
            laplacian += np.float32(weight) * around[:, row : row + grid.height, column : column + grid.width]
    grain = np.abs(laplacian).reshape(shape).mean(axis=(2, 4), dtype=np.float32)
    cells: FloatArray = np.concatenate([colour, texture[:, None], grain[:, None]], axis=1).astype(np.float32)
    return cells


def pool(fine: FloatArray, scale: str) -> FloatArray:
    """Fine-cell values [..., rows, columns] -> the windows of ``scale`` (averages of fine cells)."""
    if scale == "fine":
        return fine
    if scale == "coarse":
        rows, columns = fine.shape[-2:]
        fine = fine.reshape(*fine.shape[:-2], rows // 2, 2, columns // 2, 2).mean(axis=(-3, -1))
    elif scale != "medium":
        raise ValueError(f"unknown scale {scale!r}")
    pooled: FloatArray = (
        (fine[..., :-1, :-1] + fine[..., 1:, :-1] + fine[..., :-1, 1:] + fine[..., 1:, 1:]) / 4
    ).astype(np.float32)
    return pooled


def spread_to_fine(values: FloatArray, scale: str) -> FloatArray:
    """Window values [N, r, c] of ``scale`` -> fine cells [N, rows, columns]: each cell takes the
    largest value of the windows covering it."""
    if scale == "fine":
        return values
    padded = np.pad(values, ((0, 0), (1, 1), (1, 1)))
    covering: FloatArray = np.maximum.reduce(
        [padded[:, :-1, :-1], padded[:, 1:, :-1], padded[:, :-1, 1:], padded[:, 1:, 1:]]
    )
    if scale == "medium":
        return covering
    spread: FloatArray = np.repeat(np.repeat(covering, 2, axis=1), 2, axis=2)
    return spread


def temporal_noise(frames: FrameBatch, grid: GridSpec, previous: FrameBatch | None = None) -> FloatArray:
    """Per consecutive pair (``previous`` last frame first, when given): per fine cell, the robust
    deviation of a pixel's grey level from one frame to the next -> [pairs, rows, columns]."""
    _check(frames, grid)
    sequence = frames if previous is None else np.concatenate([previous[-1:], frames])
    if sequence.shape[0] < 2:
        return np.zeros((0, grid.rows, grid.columns), dtype=np.float32)
    grey = _grey(sequence)
    step = np.abs(grey[1:] - grey[:-1]) / np.float32(np.sqrt(2.0))
    shape = (step.shape[0], grid.rows, grid.cell_height, grid.columns, grid.cell_width)
    per_cell = step.reshape(shape).transpose(0, 1, 3, 2, 4).reshape(*shape[:2], shape[3], -1)
    noise: FloatArray = (MAD_TO_DEVIATION * np.median(per_cell, axis=-1)).astype(np.float32)
    return noise


def cell_peaks(frames: FrameBatch, grid: GridSpec) -> FloatArray:
    """Per frame, fine cell and colour channel, the level of the cell's brightest ``PEAK_SHARE`` of
    pixels -> [N, 3, rows, columns]; over the cell's mean, it says how far below saturation the
    cell's bright parts clip (enrollment only: the graph never computes it)."""
    _check(frames, grid)
    count, pixels = frames.shape[0], grid.cell_height * grid.cell_width
    shape = (count, grid.rows, grid.cell_height, grid.columns, grid.cell_width, COLOURS)
    per_cell = (
        frames.reshape(shape).transpose(0, 5, 1, 3, 2, 4).reshape(count, COLOURS, grid.rows, grid.columns, -1)
    )
    rank = max(1, round(PEAK_SHARE * pixels))
    peaks: FloatArray = np.partition(per_cell, pixels - rank, axis=-1)[..., pixels - rank].astype(np.float32)
    return peaks


def upper_median(values: FloatArray) -> FloatArray:
    """Median over the last axis; for an even count, the upper of the two middle values (what the
    graph's TopK(largest, k = (n + 1) // 2) gives)."""
    count = values.shape[-1]
    ordered = np.sort(values, axis=-1)
    median: FloatArray = ordered[..., count - (count + 1) // 2]
    return median
