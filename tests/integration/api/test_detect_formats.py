"""What ``POST /v1/detect`` does with bodies of other image formats, and with JPEGs and PNGs of
every colour layout the decoders know."""

from __future__ import annotations

import base64
import struct
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from tests.integration.api.conftest import DETECTOR_SIZE, Gateway

DETECT = "/v1/detect?model=detector"
Pixels = npt.NDArray[np.unsignedinteger[Any]]


def image(channels: int = 3, dtype: type[np.unsignedinteger[Any]] = np.uint8) -> Pixels:
    shape = (DETECTOR_SIZE, DETECTOR_SIZE) if channels == 1 else (DETECTOR_SIZE, DETECTOR_SIZE, channels)
    return np.full(shape, np.iinfo(dtype).max // 3, dtype=dtype)


def encoded(extension: str, pixels: Pixels | None = None) -> bytes:
    ok, data = cv2.imencode(extension, image() if pixels is None else pixels)
    assert ok
    return bytes(data.tobytes())


@pytest.mark.parametrize(
    ("extension", "name"),
    [(".bmp", "a BMP"), (".tiff", "a TIFF"), (".webp", "a WebP"), (".jp2", "a JPEG 2000")],
)
def test_another_image_format_is_refused_415_naming_it(gateway: Gateway, extension: str, name: str) -> None:
    reply = gateway.api.request("POST", DETECT, encoded(extension))
    assert reply.status == 415, reply.body
    assert reply.json()["error"] == f"the body is {name} image; /v1/detect takes JPEG or PNG"


@pytest.mark.parametrize(
    ("start", "name"),
    [
        (b"GIF89a\x20\x00\x20\x00", "a GIF"),
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00", "a HEIF/HEIC"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "an AVIF"),
    ],
)
def test_formats_opencv_does_not_write_are_named_by_their_signature(
    gateway: Gateway, start: bytes, name: str
) -> None:
    reply = gateway.api.request("POST", DETECT, start + bytes(64))
    assert reply.status == 415, reply.body
    assert f"{name} image" in reply.json()["error"]


def test_a_multipart_form_upload_is_refused_saying_how_to_send(gateway: Gateway) -> None:
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + encoded(".jpg")
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    reply = gateway.api.request("POST", DETECT, body, headers)
    assert reply.status == 415, reply.body
    assert "multipart form; send the image's own bytes as the body" in reply.json()["error"]


@pytest.mark.parametrize(("extension", "length"), [(".jpg", 2), (".png", 7), (".png", 1)])
def test_an_image_cut_short_in_its_signature_is_named_so(
    gateway: Gateway, extension: str, length: int
) -> None:
    reply = gateway.api.request("POST", DETECT, encoded(extension)[:length])
    assert reply.status == 400, reply.body
    assert reply.json()["error"] == f"the body is {length} bytes: a JPEG or PNG cut short in its signature"


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_an_image_sent_as_base64_text_is_refused_saying_so(gateway: Gateway, extension: str) -> None:
    for body in (base64.b64encode(encoded(extension)), b"data:image/jpeg;base64,/9j/4AAQ"):
        reply = gateway.api.request("POST", DETECT, body)
        assert reply.status == 400, reply.body
        assert reply.json()["error"] == "the body is an image as base64 text; send the image's own bytes"


@pytest.mark.parametrize(
    ("extension", "pixels"),
    [
        (".png", image(1)),
        (".png", image(1, np.uint16)),
        (".png", image(3, np.uint16)),
        (".png", image(4)),
        (".png", image(4, np.uint16)),
        (".jpg", image(1)),
    ],
    ids=["png-gray", "png-gray16", "png-rgb16", "png-rgba", "png-rgba16", "jpeg-gray"],
)
def test_every_colour_layout_is_detected_on(gateway: Gateway, extension: str, pixels: Pixels) -> None:
    # Whatever the channels and depth, the wrong Content-Type is no reason to refuse the image.
    reply = gateway.api.request("POST", DETECT, encoded(extension, pixels), {"Content-Type": "text/plain"})
    assert reply.status == 200, reply.body
    assert [detection["label"] for detection in reply.json()["detections"]] == ["cat"]


@pytest.mark.parametrize(
    ("marker", "name"),
    [(0xC5, "a hierarchical JPEG"), (0xCF, "a hierarchical JPEG"), (0xF7, "a JPEG-LS image")],
)
def test_a_jpeg_coding_libjpeg_does_not_decode_is_refused_415_naming_it(
    gateway: Gateway, marker: int, name: str
) -> None:
    # Given a baseline JPEG whose start-of-frame marker says another coding (JPEG-LS files start
    # the same way, with the same frame header)
    data = encoded(".jpg")
    start_of_frame = data.index(b"\xff\xc0")
    relabelled = data[: start_of_frame + 1] + bytes([marker]) + data[start_of_frame + 2 :]
    reply = gateway.api.request("POST", DETECT, relabelled)
    assert reply.status == 415, reply.body
    assert reply.json()["error"] == (
        f"the body is {name}, which the decoder does not take; "
        "send a baseline, progressive or lossless JPEG, or a PNG"
    )


def exif_orientation(orientation: int) -> bytes:
    """A big-endian TIFF block with one IFD entry: the EXIF orientation."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_boxes_are_in_the_coordinates_of_the_jpeg_as_shown(gateway: Gateway, orientation: int) -> None:
    # Given a 64 x 32 JPEG with an EXIF orientation: turned a quarter (5 to 8) it is shown 32 x 64,
    # and the detector's fixed box, the letterbox undone, lands elsewhere in normalised coordinates
    shown = (32, 64) if orientation >= 5 else (64, 32)
    plain = gateway.api.request(
        "POST", DETECT, encoded(".jpg", np.full((shown[1], shown[0], 3), 90, np.uint8))
    )
    stored = encoded(".jpg", np.full((32, 64, 3), 90, np.uint8))
    payload = b"Exif\x00\x00" + exif_orientation(orientation)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    turned = gateway.api.request("POST", DETECT, stored[:2] + app1 + stored[2:])
    assert plain.status == turned.status == 200, (plain.body, turned.body)
    assert turned.json()["detections"] == plain.json()["detections"]
