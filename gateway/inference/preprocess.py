"""Frames and image bodies -> one item of a model's first input, as its ``model.yaml`` describes.

``prepare`` does resize (letterbox or stretch), colour order, layout, scale/mean/std and dtype in one
pass and returns the geometry (``Letterbox``) that ``postprocess.decode`` needs to map boxes back
onto the original frame. Normalisation is folded into one multiply-add per channel written straight
into the output array, so a 640x640 frame costs one resize and one pass over the pixels. A UINT8
spec with identity normalisation (the scene-anomaly models, which take raw frames) skips the float
round trip entirely and returns the resized frame's exact values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from gateway.domain import Image
from gateway.errors import InvalidInputError, ModelLoadError
from gateway.image_format import PNG_SIGNATURE, is_jpeg_or_png, png_colour_key, with_colour_key
from gateway.inference.model_config import PreprocessConfig

__all__ = ["Letterbox", "channels_of", "check", "decode_image", "prepare"]

_DTYPES: dict[str, type[np.generic]] = {"FP32": np.float32, "FP16": np.float16, "UINT8": np.uint8}
TRANSPARENT_BACKGROUND = 255
"""What a PNG's transparent pixels become: white, as a browser shows the image on a page."""
_BLEND_ROWS = 512
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Where the source frame landed inside the model input: ``input = source * scale + pad``.

    ``scale_y`` is set only when the frame was stretched (``letterbox: false``) and the two axes were
    scaled differently; None means ``scale`` holds for both axes.
    """

    scale: float
    pad_x: float
    pad_y: float
    source_width: int
    source_height: int
    scale_y: float | None = None

    def to_source(self, boxes: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
        """``[K, 4]`` x1, y1, x2, y2 in model-input pixels -> normalised 0..1 of the source, clipped."""
        scale_y = self.scale if self.scale_y is None else self.scale_y
        result = np.empty(boxes.shape, dtype=np.float32)
        result[:, 0::2] = (boxes[:, 0::2] - self.pad_x) / (self.scale * self.source_width)
        result[:, 1::2] = (boxes[:, 1::2] - self.pad_y) / (scale_y * self.source_height)
        np.clip(result, 0.0, 1.0, out=result)
        return result


def decode_image(data: bytes) -> Image:
    """JPEG or PNG bytes -> BGR uint8 frame as a viewer shows it: turned as its EXIF orientation
    says, transparent pixels over TRANSPARENT_BACKGROUND. InvalidInputError for anything else or a
    corrupt file."""
    if not is_jpeg_or_png(data):
        raise InvalidInputError("body is not a JPEG or PNG image")
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image: npt.NDArray[Any] | None = None
        if _may_be_transparent(data):
            image = _decode_transparent(buffer, data)
        if image is None and data.startswith(PNG_SIGNATURE):
            image = _decode_opaque_png(buffer, data)
        elif image is None:
            image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise InvalidInputError(f"image could not be decoded: {exc}") from exc
    if image is None or image.size == 0:
        raise InvalidInputError(
            "image could not be decoded (corrupt, truncated, or coded in a way the decoder does not take)"
        )
    return cast(Image, image)


def _may_be_transparent(data: bytes) -> bool:
    """A PNG with an alpha channel (colour type 4 or 6) or a transparent colour (tRNS)."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 26:
        return False
    return data[25] in (4, 6) or b"tRNS" in data


def _decode_transparent(buffer: npt.NDArray[np.uint8], data: bytes) -> Image | None:
    """The PNG blended over TRANSPARENT_BACKGROUND, or None when it decodes without an alpha
    channel. IMREAD_COLOR would drop the alpha and keep whatever colour the encoder left under
    it (a region erased in an editor keeps its old pixels), which the client never sees."""
    decoded: npt.NDArray[Any] | None = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is not None:
        # A grey or RGB PNG's tRNS colour key: OpenCV leaves a grey one opaque.
        decoded = with_colour_key(decoded, png_colour_key(data))
    if decoded is None or decoded.ndim != 3 or decoded.shape[2] != 4:
        return None
    image = np.empty((*decoded.shape[:2], 3), dtype=np.uint8)
    # In bands of rows, so that a large image needs no full-size temporaries beyond its result.
    for top in range(0, decoded.shape[0], _BLEND_ROWS):
        band = decoded[top : top + _BLEND_ROWS]
        if band.dtype != np.uint8:
            band = (band >> 8).astype(np.uint8)  # as IMREAD_COLOR reduces 16 bits
        alpha = cv2.merge([band[:, :, 3]] * 3)
        # colour * alpha + background * (1 - alpha), on the 0..255 scale
        shown = cv2.multiply(np.ascontiguousarray(band[:, :, :3]), alpha, scale=1 / 255)
        behind = cv2.multiply(np.full_like(alpha, TRANSPARENT_BACKGROUND), 255 - alpha, scale=1 / 255)
        image[top : top + _BLEND_ROWS] = cv2.add(shown, behind)
    return _oriented(image, _png_orientation(data))


def _decode_opaque_png(buffer: npt.NDArray[np.uint8], data: bytes) -> Image | None:
    """A PNG without transparency, turned as the transparent path turns one (``_png_orientation``)
    rather than as OpenCV does: OpenCV's turning of a PNG differs between its versions (from 4.11 on
    it reads no eXIf of an animated PNG), and one image must be seen one way whatever its alpha."""
    image: npt.NDArray[Any] | None = cv2.imdecode(buffer, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    return None if image is None else _oriented(cast(Image, image), _png_orientation(data))


def _png_orientation(data: bytes) -> int:
    """The EXIF orientation (1 to 8) of a PNG's first eXIf chunk; 1 when there is none. Both PNG
    paths decode without OpenCV's turning and turn the image here.

    The chunk counts after the image data too, as libpng reads it (into its end info) and OpenCV's
    PNG decoder takes it from there when there is none before; what follows IEND is no part of it."""
    if b"eXIf" not in data:
        return 1  # most PNGs: no walk over every image data chunk of a large one
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind == b"IEND":
            break
        if kind == b"eXIf":
            return _exif_orientation(data[position + 8 : position + 8 + length])
        position += 12 + length
    return 1


def _exif_orientation(exif: bytes) -> int:
    order = {b"II": "<", b"MM": ">"}.get(exif[:2])
    if order is None or len(exif) < 8:
        return 1
    (directory,) = struct.unpack(f"{order}I", exif[4:8])
    if directory + 2 > len(exif):
        return 1
    (entries,) = struct.unpack(f"{order}H", exif[directory : directory + 2])
    for entry in range(directory + 2, min(directory + 2 + 12 * entries, len(exif) - 11), 12):
        tag, _, _, value = struct.unpack(f"{order}HHIH", exif[entry : entry + 10])
        if tag == _EXIF_ORIENTATION:
            return value if 1 <= value <= 8 else 1
    return 1


def _oriented(image: Image, orientation: int) -> Image:
    """Turn a stored image to the way it is shown (EXIF orientation 2 to 8; 1 is as stored)."""
    if orientation in (5, 6, 7, 8):
        image = cast(Image, cv2.transpose(image))
    flip = {2: 1, 3: -1, 4: 0, 6: 1, 7: -1, 8: 0}.get(orientation)
    return image if flip is None else cast(Image, cv2.flip(image, flip))


def channels_of(spec: PreprocessConfig) -> int:
    """Channels of the items ``prepare`` makes: 1 for GRAY, else 3."""
    return 1 if spec.color == "GRAY" else 3


def check(spec: PreprocessConfig) -> None:
    """What ``prepare`` would refuse on every frame, found before the first one (at model load):
    ModelLoadError naming the problem."""
    if not _raw(spec):
        _gain_and_offset(spec, channels_of(spec))


def prepare(image: Image, spec: PreprocessConfig) -> tuple[npt.NDArray[Any], Letterbox]:
    """One BGR uint8 frame -> one input item (no batch dimension) and the geometry to undo it."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise InvalidInputError(
            f"expected a height x width x 3 uint8 BGR frame, got shape {image.shape} {image.dtype}"
        )
    resized, letterbox = _resize(image, spec)
    converted = _convert_color(resized, spec.color)
    return _normalise(converted, spec), letterbox


def _resize(image: Image, spec: PreprocessConfig) -> tuple[Image, Letterbox]:
    source_height, source_width = image.shape[:2]
    if not spec.letterbox:
        stretched = _resize_to(image, spec.width, spec.height)
        letterbox = Letterbox(
            scale=spec.width / source_width,
            pad_x=0.0,
            pad_y=0.0,
            source_width=source_width,
            source_height=source_height,
            scale_y=spec.height / source_height,
        )
        return stretched, letterbox
    scale = min(spec.width / source_width, spec.height / source_height)
    inner_width = max(1, round(source_width * scale))
    inner_height = max(1, round(source_height * scale))
    inner = _resize_to(image, inner_width, inner_height)
    # Centred padding, rounded the way Ultralytics does it so our boxes match its exports exactly.
    half_x = (spec.width - inner_width) / 2
    half_y = (spec.height - inner_height) / 2
    left, right = round(half_x - 0.1), round(half_x + 0.1)
    top, bottom = round(half_y - 0.1), round(half_y + 0.1)
    if left or right or top or bottom:
        value = (spec.pad_value, spec.pad_value, spec.pad_value)
        inner = cast(
            Image, cv2.copyMakeBorder(inner, top, bottom, left, right, cv2.BORDER_CONSTANT, value=value)
        )
    letterbox = Letterbox(
        scale=scale,
        pad_x=float(left),
        pad_y=float(top),
        source_width=source_width,
        source_height=source_height,
    )
    return inner, letterbox


def _resize_to(image: Image, width: int, height: int) -> Image:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cast(Image, cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR))


def _convert_color(image: Image, color: str) -> Image:
    if color == "BGR":
        return image
    code = cv2.COLOR_BGR2RGB if color == "RGB" else cv2.COLOR_BGR2GRAY
    converted = cast(Image, cv2.cvtColor(image, code))
    if converted.ndim == 2:
        converted = converted[:, :, np.newaxis]
    return converted


def _raw(spec: PreprocessConfig) -> bool:
    """A UINT8 spec with identity normalisation: frames go in as decoded and resized."""
    identity = spec.scale == 1 and all(value == 0 for value in spec.mean) and all(v == 1 for v in spec.std)
    return _DTYPES[spec.datatype] is np.uint8 and identity


def _gain_and_offset(
    spec: PreprocessConfig, channels: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(x * scale - mean) / std == x * gain + offset, per channel."""
    mean = _per_channel(spec.mean, channels, "mean")
    std = _per_channel(spec.std, channels, "std")
    if np.any(std == 0):
        raise ModelLoadError("preprocess std must not contain 0")
    gain: npt.NDArray[np.float32] = np.float32(spec.scale) / std
    offset: npt.NDArray[np.float32] = -mean / std
    return gain, offset


def _normalise(image: Image, spec: PreprocessConfig) -> npt.NDArray[Any]:
    dtype = _DTYPES[spec.datatype]
    if _raw(spec):
        # Raw-frame models: no float round trip, values exactly as decoded and resized.
        frame = image if spec.layout == "NHWC" else image.transpose(2, 0, 1)
        return np.ascontiguousarray(frame)
    gain, offset = _gain_and_offset(spec, image.shape[2])
    if spec.layout == "NCHW":
        source = image.transpose(2, 0, 1)
        gain, offset = gain[:, np.newaxis, np.newaxis], offset[:, np.newaxis, np.newaxis]
    else:
        source = image
    result = np.empty(source.shape, dtype=np.float32)
    np.multiply(source, gain, out=result)
    if np.any(offset != 0):
        np.add(result, offset, out=result)
    if dtype is np.float32:
        return result
    if dtype is np.uint8:
        return np.clip(np.rint(result), 0, 255).astype(np.uint8)
    return result.astype(dtype)


def _per_channel(values: tuple[float, ...], channels: int, name: str) -> npt.NDArray[np.float32]:
    if len(values) not in (1, channels):
        raise ModelLoadError(f"preprocess {name} has {len(values)} values for {channels} channels")
    return np.full(channels, values, dtype=np.float32) if len(values) == 1 else np.asarray(values, np.float32)
