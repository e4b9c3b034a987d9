"""Enrollment: a camera's normal frames -> a fitted scene-anomaly model -> the next version of
``scene-anomaly-{camera_id}`` in the model repository.

Frames come from a folder of images or from the camera's stream, opened with the camera reader of
``gateway/ingest`` (enrollment is a one-shot command: a failed stream is an error, not a reconnect
loop). Every frame is stretched to the model's size with ``cv2.resize`` (bilinear, no
letterbox), as the serving pre-processing does for ``letterbox: false``.

Writes are atomic so the hot-reloading repository never sees half a version: the version directory
is built under a hidden temporary name inside the model directory and renamed into place; model.yaml
(shared by all versions) is written once, with a temporary file and ``os.replace``, before the first
version exists, and never rewritten afterwards (an operator's threshold stays theirs). Each version
carries its own calibration inside the graph, so pinning an older version is a complete rollback.
An interrupted enrollment (Ctrl-C, an error) removes its staging files. The files get the modes the
process's umask gives (not ``mkstemp``'s 0600), so a version written by another user than the
service's (root, by mistake) can still be read by the service.

Whether anything can be written is checked before the first frame is read: a stream enrollment takes
minutes, which an unwritable repository would waste. Frames count only once each: a video file loops
(a still image or a one-frame video repeats itself forever) and a frozen stream repeats its last
frame, and copies add nothing to learn from.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from gateway.anomaly.export import build_graph, model_document
from gateway.anomaly.features import GridSpec, cell_peaks, fine_cells, temporal_noise
from gateway.anomaly.fitting import fit
from gateway.anomaly.model_file import read_metadata
from gateway.api.detect import MAX_IMAGE_PIXELS
from gateway.config import CameraConfig, GatewayConfig
from gateway.domain import Image, ModelRef
from gateway.durable import fsync_path
from gateway.errors import ConfigError, ConfigProblem, ModelError, SourceError
from gateway.image_format import header_size
from gateway.inference.model_config import load_model_config
from gateway.inference.slots import version_of
from gateway.ingest.sources import SourceFactory, source_factory
from gateway.rules.scene_format import SceneFormat
from gateway.suggestions import closest

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
MIN_FRAMES = 10
"""Fewer different normal frames than this cannot give a meaningful spread or threshold."""
FEATURE_CHUNK = 64
PROGRESS_EVERY = 50
HEADER_BYTES = 256 * 1024
"""Bytes of an image read to find its size: a JPEG's EXIF and ICC segments come before its frame."""


def model_name(camera_id: str) -> str:
    return f"scene-anomaly-{camera_id}"


@dataclass(frozen=True, slots=True)
class Enrollment:
    camera_id: str
    model: str
    version: int
    model_path: Path
    model_yaml: Path
    frames: int
    normal_quantile: float
    """The enrollment frames' q99 raw score (1.0 is the threshold): how close normal came to it."""
    frame_format: SceneFormat
    """What the frames were (size, colour or grey), recorded in the model's metadata: the gateway
    does not score frames of another aspect or colour mode with it."""


def _notify(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _fit_size(image: Image, grid: GridSpec) -> Image:
    if image.shape[:2] == (grid.height, grid.width):
        return image
    resized = cv2.resize(image, (grid.width, grid.height), interpolation=cv2.INTER_LINEAR)
    return np.asarray(resized, dtype=np.uint8)


def _too_small(frame: Image, grid: GridSpec, number: int) -> str | None:
    """A frame with fewer pixels than the map has cells (a 1x1 video) holds no scene to learn."""
    height, width = frame.shape[:2]
    if width >= grid.columns and height >= grid.rows:
        return None
    return (
        f"frame {number} is {width}x{height} pixels; enrollment needs at least "
        f"{grid.columns}x{grid.rows} (one pixel per cell of the anomaly map)"
    )


def _digest(image: Image) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def _check_writable(model_dir: Path) -> None:
    """Fail before any frame is read when the model directory cannot be created or written."""
    existing = model_dir
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise ModelError(f"cannot write {model_dir}: {existing} is not a directory")
    try:
        # An unnamed file (O_TMPFILE on Linux): nothing is left behind whatever happens next.
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ModelError(f"cannot write {model_dir}: {exc}") from exc


def _existing_grid(model_dir: Path) -> GridSpec | None:
    """The size of an already enrolled model, so every version matches the shared model.yaml."""
    path = model_dir / "model.yaml"
    if not path.exists():
        return None
    try:
        config = load_model_config(path)
    except ConfigError as exc:
        raise ModelError(f"{path} exists but is invalid; fix or remove it first: {exc}") from exc
    if config.preprocess is None or len(config.outputs) < 2 or len(config.outputs[1].dims) != 2:
        raise ModelError(f"{path} is not a scene-anomaly model.yaml")
    rows, columns = config.outputs[1].dims
    try:
        return GridSpec(config.preprocess.height, config.preprocess.width, rows, columns)
    except ValueError as exc:
        raise ModelError(f"{path}: {exc}") from exc


def enroll_frames(
    frames: Iterable[Image],
    *,
    camera_id: str,
    repository: Path,
    grid: GridSpec | None = None,
    progress: Progress | None = None,
) -> Enrollment:
    """Fit on ``frames`` (BGR uint8, any size) and write the next version; returns what was written.

    ``grid`` applies to a camera's first enrollment only: later versions keep the size and grid of
    the existing model.yaml, which all versions share.
    """
    name = model_name(camera_id)
    model_dir = repository / name
    grid = _existing_grid(model_dir) or grid or GridSpec()
    _check_writable(model_dir)
    cells, noise, peaks = [], [], []
    batch: list[Image] = []
    previous: Image | None = None
    count = 0
    different: set[bytes] = set()
    too_small: str | None = None
    formats: list[SceneFormat] = []

    def flush() -> None:
        nonlocal batch, previous
        stacked = np.stack(batch)
        cells.append(fine_cells(stacked, grid))
        peaks.append(cell_peaks(stacked, grid))
        noise.append(temporal_noise(stacked, grid, None if previous is None else previous[np.newaxis]))
        previous, batch = stacked[-1], []

    for frame in frames:
        count += 1
        too_small = too_small or _too_small(frame, grid, count)
        formats.append(SceneFormat.of_image(frame))
        fitted = _fit_size(frame, grid)
        if len(different) < MIN_FRAMES:  # enough told apart: the rest need no hashing
            different.add(_digest(fitted))
        batch.append(fitted)
        if len(batch) == FEATURE_CHUNK:
            flush()
        if count % PROGRESS_EVERY == 0:
            _notify(progress, f"{count} frames collected")
    if batch:
        flush()
    if count < MIN_FRAMES:
        raise SourceError(
            f"enrollment of camera {camera_id!r} needs at least {MIN_FRAMES} frames, got {count}"
        )
    if too_small is not None:
        raise SourceError(too_small)
    if len(different) < MIN_FRAMES:
        raise SourceError(
            f"enrollment of camera {camera_id!r} needs at least {MIN_FRAMES} different frames, got "
            f"{count} frames of which {len(different)} differ (a still image, a video of fewer "
            "frames, which loops, or a frozen stream)"
        )
    _notify(progress, f"{count} frames collected; fitting {grid.rows}x{grid.columns} cells at 3 scales")
    scene = fit(np.concatenate(cells), np.concatenate(noise), np.concatenate(peaks), grid)
    frame_format = SceneFormat.of_enrollment(formats)
    metadata = {"camera_id": camera_id, "enrolled_at": f"{time.time():.0f}", **frame_format.metadata()}
    proto = build_graph(scene, metadata)
    model_yaml = _write_model_yaml(model_dir, model_document(scene))
    version, model_path = _write_version(model_dir, proto.SerializeToString())
    thresholds = ", ".join(f"{scale.scale} {scale.threshold:.2f}" for scale in scene.scales)
    logger.info(
        "enrolled %s version %s from %s frames (thresholds %s)",
        name,
        version,
        count,
        thresholds,
        extra={"camera": camera_id, "model": f"{name}:{version}"},
    )
    _notify(progress, f"wrote {model_path} (thresholds {thresholds}; frames {_described(frame_format)})")
    return Enrollment(
        camera_id, name, version, model_path, model_yaml, count, scene.normal_quantile, frame_format
    )


def _described(frame_format: SceneFormat) -> str:
    size = "of mixed aspects" if frame_format.width is None else f"{frame_format.width}x{frame_format.height}"
    colour = "colour unknown" if frame_format.colour is None else frame_format.colour.value
    return f"{size}, {colour}"


def enrolled_format(repository: Path, model: ModelRef) -> SceneFormat:
    """What a version of a camera's scene-anomaly model was enrolled on, from the metadata of its
    model file (``repository/{name}/{version}/model.onnx``); every field None for a model enrolled
    before it was recorded. Raises OSError or ValueError for a missing or unreadable file."""
    path = repository / model.name / str(model.version) / "model.onnx"
    return SceneFormat.from_metadata(read_metadata(path))


def _staging_name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(8)}"


def _write_model_yaml(model_dir: Path, document: dict[str, object]) -> Path:
    path = model_dir / "model.yaml"
    if path.exists():
        return path
    staging = model_dir / _staging_name(".model.yaml.")
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        # open(), not mkstemp: the file gets the umask's mode rather than 0600.
        with staging.open("x", encoding="utf-8") as stream:
            yaml.safe_dump(document, stream, sort_keys=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staging, path)
        fsync_path(model_dir)
    except OSError as exc:
        raise ModelError(f"cannot write {path}: {exc}") from exc
    finally:
        # Gone after os.replace; left by an error or an interrupt (KeyboardInterrupt) before it. Best
        # effort: a failed removal must not hide the error that brought us here.
        with contextlib.suppress(OSError):
            staging.unlink()
    return path


def _versions(model_dir: Path) -> list[int]:
    versions = (version_of(entry.name) for entry in model_dir.iterdir() if entry.is_dir())
    return [version for version in versions if version is not None]


def _write_version(model_dir: Path, data: bytes) -> tuple[int, Path]:
    staging = model_dir / _staging_name(".enroll-")
    try:
        # mkdir, not mkdtemp: the directory gets the umask's mode rather than 0700.
        staging.mkdir()
    except OSError as exc:
        raise ModelError(f"cannot write a new version under {model_dir}: {exc}") from exc
    try:
        try:
            with (staging / "model.onnx").open("xb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            fsync_path(staging)
        except OSError as exc:
            raise ModelError(f"cannot write a new version under {model_dir}: {exc}") from exc
        # Another enrollment may take the same number between listing and renaming: retry.
        for _ in range(100):
            version = max(_versions(model_dir), default=0) + 1
            target = model_dir / str(version)
            if target.exists() and not target.is_dir():
                raise ModelError(f"{target} is in the way of version {version}: not a directory; remove it")
            if target.exists():
                continue
            try:
                staging.rename(target)
            except OSError:
                continue
            try:
                fsync_path(model_dir)
            except OSError as exc:
                raise ModelError(f"cannot make version {version} under {model_dir} durable: {exc}") from exc
            return version, target / "model.onnx"
        raise ModelError(f"could not claim a new version number under {model_dir}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def image_paths(directory: Path) -> list[Path]:
    """The images of ``directory``, sorted by name; an error when there are none."""
    try:
        paths = sorted(
            path for path in directory.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
        )
    except NotADirectoryError as exc:
        raise SourceError(f"{directory} is not a directory") from exc
    except OSError as exc:
        raise SourceError(f"cannot list {directory}: {exc.strerror or exc}") from exc
    if not paths:
        raise SourceError(f"{directory} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths


def _refuse_oversized(path: Path) -> None:
    """SourceError for a JPEG or PNG whose header declares more pixels than /v1/detect decodes: a
    30000 x 30000 PNG of a few megabytes took 5.4 GB to decode, for a frame shrunk to 320 x 180."""
    try:
        with path.open("rb") as file:
            header = file.read(HEADER_BYTES)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    size = header_size(header)
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise SourceError(
            f"{path} is {size[0]} x {size[1]} pixels, over the {MAX_IMAGE_PIXELS // 1_000_000} million "
            "enrollment decodes (an 8K frame has 33); scale it down first"
        )


def frames_from_folder(paths: list[Path], progress: Progress | None = None) -> Iterator[Image]:
    """Each image of ``paths`` (see ``image_paths``), read only when enrollment takes it: a folder of
    large photos is never held in memory at full size. An unreadable image is an error, not a skip."""
    for index, path in enumerate(paths, start=1):
        _refuse_oversized(path)
        try:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        except cv2.error as exc:
            # OpenCV raises, rather than returning None, for an image over its pixel limit.
            raise SourceError(f"{path} is not a readable image (too large, or damaged: {exc.err})") from exc
        if image is None:
            raise SourceError(f"{path} is not a readable image")
        yield np.asarray(image, dtype=np.uint8)
        if index % PROGRESS_EVERY == 0:
            _notify(progress, f"{index}/{len(paths)} images read")


def frames_from_stream(
    camera: CameraConfig,
    seconds: float,
    progress: Progress | None = None,
    open_source: SourceFactory | None = None,
) -> Iterator[Image]:
    """Frames of the camera's stream sampled at its detect_fps for ``seconds``.

    The camera reader of ``gateway/ingest`` opens the stream (bounded open and read timeouts, RTSP
    options, GStreamer when configured; files play at their own frame rate), so a hung camera ends
    enrollment with a SourceError instead of hanging it. Every frame is read, so a live stream never
    lags behind; only the sampled ones are kept.
    """
    source = (open_source or source_factory(camera))()
    try:
        _notify(progress, f"camera {camera.id}: stream open, sampling at {camera.detect_fps:g} fps")
        interval = 1.0 / camera.detect_fps
        began = time.monotonic()
        next_at = began
        while True:
            frame = source.read()
            now = time.monotonic()
            if now - began >= seconds:
                return
            if now >= next_at:
                # Scheduled, not "now + interval", so jitter in arrival does not lower the rate.
                next_at = max(next_at + interval, now - interval)
                yield frame
    finally:
        source.close()


def find_camera(config: GatewayConfig, camera_id: str, source: str) -> CameraConfig:
    for camera in config.cameras:
        if camera.id == camera_id:
            return camera
    identifiers = [camera.id for camera in config.cameras]
    meant = closest(camera_id, identifiers)
    hint = "" if meant is None else f"did you mean {meant!r}? "
    known = ", ".join(identifiers) or "none"
    problem = f"no camera {camera_id!r} ({hint}known: {known})"
    raise ConfigError([ConfigProblem(source, None, "cameras", problem)])
