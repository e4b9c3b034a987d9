"""The demo clip: 20 s of a fixed indoor scene at 640x360 and 10 fps, H.264, with mild sensor noise,
where at known times a coloured parcel appears and leaves, then a face appears and leaves.

``clip.truth.json`` lists those intervals as ``{kind, start_s, end_s, box}``: ``box`` is
``[x1, y1, x2, y2]`` normalised to the frame and covers every position the thing takes while it is
in view (both sway a few pixels so the motion gate keeps seeing them). For the face, ``box`` is the
face itself, as face-detector draws it, not the whole pasted head.

The face is a crop of scikit-image's ``astronaut.png`` (Eileen Collins, NASA, public domain),
committed as ``build/models/astronaut_head.png`` so the set-up does not need scikit-image.
Frames come from a seeded generator, so every build shows the same scene; the encoder's bytes may
still differ between ffmpeg versions, which is why the builder records the hash of what it wrote.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT, FPS, DURATION_S = 640, 360, 10, 20.0
SEED = 20
NOISE_SIGMA = 2.5
SWAY_PX = 4
HEAD_IMAGE = Path(__file__).parent / "models" / "astronaut_head.png"
FACE_IN_HEAD = (38, 63, 139, 160)
"""The face inside the head crop, in crop pixels: face-detector's box on astronaut.png."""

Frame = npt.NDArray[np.uint8]


class ClipError(Exception):
    """The clip could not be generated or encoded."""


@dataclass(frozen=True, slots=True)
class Appearance:
    kind: str
    start_s: float
    end_s: float
    left: int
    top: int
    sprite: Frame
    alpha: npt.NDArray[np.float32]
    region: tuple[int, int, int, int]
    """The part of the sprite the truth box covers, in sprite pixels: x1, y1, x2, y2."""

    def offset(self, t: float) -> int:
        return round(SWAY_PX * math.sin(2 * math.pi * (t - self.start_s) / 2.0))

    def visible(self, t: float) -> bool:
        return self.start_s <= t < self.end_s

    def truth(self) -> dict[str, object]:
        x1, y1, x2, y2 = self.region
        box = [
            (self.left + x1 - SWAY_PX) / WIDTH,
            (self.top + y1) / HEIGHT,
            (self.left + x2 + SWAY_PX) / WIDTH,
            (self.top + y2) / HEIGHT,
        ]
        return {
            "kind": self.kind,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "box": [round(value, 4) for value in box],
        }


def background() -> Frame:
    """A fixed room: graded wall, floor, a door, a window and a shelf."""
    rows = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, np.newaxis]
    scene = np.empty((HEIGHT, WIDTH, 3), dtype=np.float32)
    scene[:] = np.array([176, 186, 196], dtype=np.float32) - 40 * rows[..., np.newaxis]
    scene[260:] = np.array([92, 110, 128], dtype=np.float32)
    cv2.rectangle(scene, (250, 70), (350, 260), (60, 80, 110), thickness=-1)
    cv2.circle(scene, (335, 170), 5, (150, 180, 200), thickness=-1)
    cv2.rectangle(scene, (40, 50), (200, 150), (220, 200, 170), thickness=-1)
    cv2.rectangle(scene, (40, 50), (200, 150), (70, 70, 70), thickness=4)
    cv2.line(scene, (120, 50), (120, 150), (70, 70, 70), thickness=3)
    cv2.rectangle(scene, (560, 40), (630, 250), (90, 100, 120), thickness=-1)
    for shelf in range(70, 250, 45):
        cv2.line(scene, (560, shelf), (630, shelf), (40, 50, 60), thickness=3)
    texture = np.random.default_rng(SEED).normal(0, 3, (HEIGHT, WIDTH, 1)).astype(np.float32)
    blurred = np.asarray(cv2.GaussianBlur(texture, (0, 0), 2), dtype=np.float32)
    room: Frame = np.clip(scene + blurred[..., np.newaxis], 0, 255).astype(np.uint8)
    return room


def appearances(head: Frame) -> tuple[Appearance, ...]:
    parcel = np.zeros((90, 110, 3), dtype=np.uint8)
    parcel[:] = (40, 120, 230)
    cv2.rectangle(parcel, (0, 0), (109, 89), (20, 70, 160), thickness=4)
    cv2.line(parcel, (55, 0), (55, 89), (150, 200, 240), thickness=8)
    # A soft elliptical edge so the head blends into the room instead of looking like a poster.
    height, width = head.shape[:2]
    mask = np.zeros((height, width), dtype=np.float32)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 2 - 6, height // 2 - 4), 0, 0, 360, 1.0, -1)
    head_alpha = np.asarray(cv2.GaussianBlur(mask, (0, 0), 4), dtype=np.float32)
    return (
        Appearance(
            "object", 3.0, 7.0, 90, 200, parcel, np.ones(parcel.shape[:2], np.float32), (0, 0, 110, 90)
        ),
        Appearance("face", 10.0, 15.0, 410, 100, head, head_alpha, FACE_IN_HEAD),
    )


def render(frame_index: int, scene: Frame, things: tuple[Appearance, ...], rng: np.random.Generator) -> Frame:
    t = frame_index / FPS
    canvas = scene.astype(np.float32)
    for thing in things:
        if not thing.visible(t):
            continue
        height, width = thing.sprite.shape[:2]
        left = thing.left + thing.offset(t)
        target = canvas[thing.top : thing.top + height, left : left + width]
        alpha = thing.alpha[..., np.newaxis]
        target[:] = target * (1 - alpha) + thing.sprite.astype(np.float32) * alpha
    canvas += rng.normal(0, NOISE_SIGMA, canvas.shape).astype(np.float32)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def frames() -> tuple[list[Frame], list[dict[str, object]]]:
    """Every frame of the clip (BGR) and the truth intervals."""
    head = cv2.imread(str(HEAD_IMAGE), cv2.IMREAD_COLOR)
    if head is None:
        raise ClipError(f"cannot read the face image {HEAD_IMAGE}")
    scene = background()
    things = appearances(np.asarray(head, dtype=np.uint8))
    rng = np.random.default_rng(SEED)
    count = round(DURATION_S * FPS)
    return [render(index, scene, things, rng) for index in range(count)], [thing.truth() for thing in things]


def write(clip: Path, truth: Path) -> None:
    """Encode the clip with ffmpeg (H.264, yuv420p, a key frame every second) and write its truth."""
    images, intervals = frames()
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "-",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-g", str(FPS),
        "-threads", "1", "-map_metadata", "-1", "-fflags", "+bitexact", "-movflags", "+faststart",
        str(clip),
    ]  # fmt: skip
    try:
        completed = subprocess.run(
            command, input=b"".join(image.tobytes() for image in images), capture_output=True, check=False
        )
    except OSError as exc:
        raise ClipError(f"cannot run ffmpeg (install the ffmpeg package): {exc}") from exc
    if completed.returncode != 0:
        raise ClipError(
            f"ffmpeg failed ({completed.returncode}): {completed.stderr.decode(errors='replace')}"
        )
    truth.write_text(json.dumps(intervals, indent=2) + "\n", encoding="utf-8")
