"""The snapshot image: a camera's newest frame with its latest detections and zones drawn, as JPEG."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gateway.config import ZoneConfig
from gateway.domain import Detection, Image
from gateway.errors import SourceError

ZONE_COLOUR = (255, 200, 0)
BOX_COLOUR = (0, 200, 255)
JPEG_QUALITY = 85


def draw_snapshot(image: Image, detections: Sequence[Detection], zones: Sequence[ZoneConfig]) -> bytes:
    canvas = image.copy()
    height, width = canvas.shape[:2]
    for zone in zones:
        points = np.array([[round(x * width), round(y * height)] for x, y in zone.polygon], dtype=np.int32)
        cv2.polylines(canvas, [points], isClosed=True, color=ZONE_COLOUR, thickness=2)
        cv2.putText(
            canvas,
            zone.name,
            (int(points[0][0]) + 4, int(points[0][1]) + 16),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            ZONE_COLOUR,
            1,
            cv2.LINE_AA,
        )
    for detection in detections:
        label = f"{detection.label} {detection.score:.2f}"
        if detection.box is None:
            cv2.putText(
                canvas, label, (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6, BOX_COLOUR, 2, cv2.LINE_AA
            )
            continue
        x1, y1, x2, y2 = detection.box
        top_left = (round(x1 * width), round(y1 * height))
        cv2.rectangle(canvas, top_left, (round(x2 * width), round(y2 * height)), BOX_COLOUR, 2)
        cv2.putText(
            canvas,
            label,
            (top_left[0], max(12, top_left[1] - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            BOX_COLOUR,
            1,
            cv2.LINE_AA,
        )
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise SourceError("could not encode the snapshot as JPEG")
    return bytes(encoded.tobytes())
