"""``encode_evidence`` given arrays a JPEG cannot hold: an EvidenceError naming the shape, whatever the
width. A frame wider than ``max_width`` went to ``cv2.resize`` first, whose bare ``cv2.error`` the
encoder thread could only log as a bug; a narrow one was refused as the function says."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.delivery.evidence import encode_evidence
from gateway.errors import EvidenceError

MAX_WIDTH = 1280


@pytest.mark.parametrize("width", [100, 2000])
@pytest.mark.parametrize("channels", [0, 2, 5, 600])
def test_an_array_of_other_channels_is_an_evidence_error(width: int, channels: int) -> None:
    image = np.zeros((10, width, channels), np.uint8)
    with pytest.raises(EvidenceError, match=rf"shape \(10, {width}, {channels}\)"):
        encode_evidence(image, quality=85, max_width=MAX_WIDTH)


@pytest.mark.parametrize("width", [100, 2000])
@pytest.mark.parametrize("shape", [(), (1,), (4,)])
def test_grey_colour_and_alpha_are_encoded(width: int, shape: tuple[int, ...]) -> None:
    image = np.full((10, width, *shape), 200, np.uint8)
    encoded = encode_evidence(image, quality=85, max_width=MAX_WIDTH)
    assert (encoded.evidence.width, encoded.evidence.height) == (
        min(width, MAX_WIDTH),
        10 * min(width, MAX_WIDTH) // width,
    )
    assert encoded.data[:2] == b"\xff\xd8"
