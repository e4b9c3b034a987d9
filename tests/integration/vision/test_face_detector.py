"""face-detector (nudenet's pretrained YOLOv8n) through our pre- and post-processing on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from gateway.domain import Box, Detection, Image
from gateway.inference.postprocess import decode
from gateway.inference.preprocess import decode_image, prepare
from tests.integration.vision.conftest import ShippedModel

# Where the astronaut's face is in astronaut.png (512x512), normalised: nudenet's own pipeline draws
# the same box (173, 83)-(274, 180) in pixels.
ASTRONAUT_FACE: Box = (0.338, 0.162, 0.535, 0.352)


def iou(a: Box, b: Box) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = width * height
    return overlap / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap)


def detect(model: ShippedModel, image: Image) -> tuple[Detection, ...]:
    assert model.config.preprocess is not None
    item, letterbox = prepare(image, model.config.preprocess)
    outputs = model.engine.run({"images": item[np.newaxis]})
    detections, score = decode(
        {name: value[0] for name, value in outputs.items()}, letterbox, model.config.postprocess
    )
    assert score is None
    return detections


def photo(name: str) -> Image:
    """One of scikit-image's sample photos (RGB) as a BGR frame."""
    rgb = np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), dtype=np.uint8)


def test_finds_the_astronauts_face_where_it_is(face_detector: ShippedModel) -> None:
    detections = detect(face_detector, photo("astronaut"))
    assert len(detections) == 1
    (face,) = detections
    assert face.label == "FACE_FEMALE"
    assert face.score == pytest.approx(0.81, abs=0.1)
    assert face.box is not None
    assert iou(face.box, ASTRONAUT_FACE) > 0.85


def test_finds_no_face_on_a_cat(face_detector: ShippedModel) -> None:
    assert detect(face_detector, photo("chelsea")) == ()


def test_only_face_classes_are_reported(face_detector: ShippedModel) -> None:
    # The model sees more than faces; model.yaml's keep_labels restricts the output to faces.
    faces = face_detector.config.postprocess.model_copy(update={"score_threshold": 0.01})
    everything = faces.model_copy(update={"keep_labels": ()})
    assert face_detector.config.preprocess is not None
    item, letterbox = prepare(photo("astronaut"), face_detector.config.preprocess)
    output = face_detector.engine.run({"images": item[np.newaxis]})["output0"][0]
    all_labels = {d.label for d in decode({"output0": output}, letterbox, everything)[0]}
    kept = {d.label for d in decode({"output0": output}, letterbox, faces)[0]}
    assert all_labels - {"FACE_FEMALE", "FACE_MALE"}, "expected other classes at a low threshold"
    assert kept == all_labels & {"FACE_FEMALE", "FACE_MALE"} == {"FACE_FEMALE", "FACE_MALE"}


def test_the_face_is_found_in_a_jpeg_body_letterboxed_off_centre(face_detector: ShippedModel) -> None:
    # Given the astronaut on a wide grey canvas, sent as a JPEG body like POST /v1/detect does
    astronaut = photo("astronaut")
    canvas = np.full((512, 1024, 3), 128, dtype=np.uint8)
    canvas[:, 512:] = astronaut
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    detections = detect(face_detector, decode_image(jpeg.tobytes()))
    # Then the box lands on the right half, at the face, after the letterbox is undone
    assert [d.label for d in detections] == ["FACE_FEMALE"]
    expected = (
        0.5 + ASTRONAUT_FACE[0] / 2,
        ASTRONAUT_FACE[1],
        0.5 + ASTRONAUT_FACE[2] / 2,
        ASTRONAUT_FACE[3],
    )
    assert detections[0].box is not None
    assert iou(detections[0].box, expected) > 0.7


def test_batched_frames_decode_like_single_ones(face_detector: ShippedModel) -> None:
    assert face_detector.config.preprocess is not None
    images = [photo("astronaut"), photo("chelsea"), photo("coffee")]
    prepared = [prepare(image, face_detector.config.preprocess) for image in images]
    batch = np.stack([item for item, _ in prepared])
    output = face_detector.engine.run({"images": batch})["output0"]
    assert output.shape == (3, 22, 2100)
    for index, (image, (_, letterbox)) in enumerate(zip(images, prepared, strict=True)):
        batched = decode({"output0": output[index]}, letterbox, face_detector.config.postprocess)[0]
        single = detect(face_detector, image)
        assert [d.label for d in batched] == [d.label for d in single]
        for one, other in zip(batched, single, strict=True):
            assert one.score == pytest.approx(other.score, abs=1e-4)
