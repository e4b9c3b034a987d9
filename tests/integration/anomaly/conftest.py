"""A scripted camera scene for enrollment tests: a fixed background under slow lighting drift with
sensor noise (the normal part), then a box that enters, stops and leaves (the anomaly part)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gateway.enroll import Enrollment, enroll_frames

WIDTH, HEIGHT = 320, 180
NORMAL_FRAMES = 60
EVENT_FRAMES = range(70, 90)
"""Frames in which the object is fully inside the scene."""
CLIP_FRAMES = 100


@dataclass(frozen=True)
class ScriptedClip:
    frames: npt.NDArray[np.uint8]
    """[CLIP_FRAMES, HEIGHT, WIDTH, 3] BGR."""

    @property
    def normal(self) -> npt.NDArray[np.uint8]:
        return self.frames[:NORMAL_FRAMES]

    @property
    def event(self) -> npt.NDArray[np.uint8]:
        return self.frames[EVENT_FRAMES.start : EVENT_FRAMES.stop]


def _make_clip() -> ScriptedClip:
    rng = np.random.default_rng(11)
    scene = np.zeros((HEIGHT, WIDTH, 3), dtype=np.float32)
    scene[:] = (90, 120, 140)
    cv2.rectangle(scene, (20, 30), (120, 150), (40, 60, 200), -1)
    cv2.rectangle(scene, (200, 10), (300, 80), (180, 170, 60), -1)
    cv2.line(scene, (0, 160), (319, 120), (20, 20, 20), 3)
    frames = []
    for index in range(CLIP_FRAMES):
        image = scene.copy()
        if index in EVENT_FRAMES:
            cv2.rectangle(image, (150, 60), (190, 130), (230, 230, 230), -1)
        gain = 1.0 + 0.25 * np.sin(index / 15.0)
        image = image * gain + rng.normal(0, 4, size=image.shape)
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return ScriptedClip(np.stack(frames))


@pytest.fixture(scope="session")
def scripted_clip() -> ScriptedClip:
    return _make_clip()


@pytest.fixture
def frames_dir(tmp_path: Path, scripted_clip: ScriptedClip) -> Path:
    """The clip's normal part as PNG files, twice the model's size (enrollment must resize)."""
    directory = tmp_path / "frames"
    directory.mkdir()
    for index, frame in enumerate(scripted_clip.normal):
        large = cv2.resize(frame, (WIDTH * 2, HEIGHT * 2), interpolation=cv2.INTER_LINEAR)
        assert cv2.imwrite(str(directory / f"{index:04d}.png"), large)
    return directory


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A gateway config whose repository is empty and whose camera 'yard' is a local video file."""
    path = tmp_path / "gateway.yaml"
    path.write_text(
        f"device_id: test\nstate_dir: {tmp_path / 'state'}\nmodels: {{repository: {tmp_path / 'models'}}}\n"
        f"cameras:\n  - id: yard\n    url: {tmp_path / 'yard.mp4'}\n    detect_fps: 5\n"
    )
    return path


@pytest.fixture
def enrolled(tmp_path: Path, scripted_clip: ScriptedClip) -> Enrollment:
    """Camera 'yard's model, enrolled on the clip's normal part into ``tmp_path / "models"``."""
    return enroll_frames(list(scripted_clip.normal), camera_id="yard", repository=tmp_path / "models")
