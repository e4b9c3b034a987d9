"""Evidence images: the frame that fired a ``start`` or ``instant`` alert, as a JPEG with its SHA-256.

``encode_evidence`` is the pure part: the frame as captured (no overlays), scaled down to at most
``outbox.evidence.max_width`` (aspect ratio kept, never scaled up), JPEG at ``jpeg_quality``, and the
digest, size and shape that go into the alert, so the alert's hash and signature cover the image.

``EvidenceEncoder`` runs it on one named ``evidence-encoder`` thread, so the alert decider never waits
on an encoder: ``encode`` hands back a Future at once and the decider commits the alert when it
resolves (alerts stay in the order decided; see ``gateway.decider``). One thread is enough:
bench/evidence.py measures about 2 ms of CPU per 720p frame (cv2's libjpeg-turbo; OpenCV releases
the GIL while it encodes), and only the frames that start an event are encoded. The queue holds
frames only, and the decider bounds how many bytes of frames it holds at once (encoding included),
so the queue needs no bound of its own.

A frame that cannot be encoded (a bug or an odd image) fails its Future with EvidenceError: the
alert is committed without evidence (``evidence: null``), logged and counted, never dropped.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import cv2
import numpy as np
from prometheus_client import CollectorRegistry, Counter, Summary

from gateway.config import EvidenceConfig
from gateway.domain import EVIDENCE_TYPE, Evidence, EvidenceImage, Image
from gateway.errors import EvidenceError
from gateway.image_shrink import at_most_wide, shrunk

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0


def encode_evidence(image: Image, *, quality: int, max_width: int) -> EvidenceImage:
    """``image`` (BGR or grey, uint8) -> JPEG bytes with their digest and shape; EvidenceError when
    it is not an image OpenCV can encode."""
    # JPEG holds grey or colour (a fourth channel, alpha, is dropped): any other shape is refused
    # here, where a wide one reached cv2.resize and failed with a bare cv2.error instead.
    channels = image.shape[2] if image.ndim == 3 else 1
    if (
        image.dtype != np.uint8
        or image.ndim not in (2, 3)
        or min(image.shape[:2]) < 1
        or channels not in (1, 3, 4)
    ):
        raise EvidenceError(
            f"not an 8-bit image of 1, 3 or 4 channels: dtype {image.dtype}, shape {image.shape}"
        )
    height, width = image.shape[:2]
    if width > max_width:
        width, height = at_most_wide(width, height, max_width)
        image = shrunk(image, width, height)
    try:
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    except cv2.error as exc:
        raise EvidenceError(f"JPEG encoding failed: {exc}") from exc
    if not ok:
        raise EvidenceError("JPEG encoding failed")
    data = buffer.tobytes()
    evidence = Evidence(hashlib.sha256(data).hexdigest(), len(data), EVIDENCE_TYPE, width, height)
    return EvidenceImage(evidence, data)


@dataclass(frozen=True, slots=True)
class _Job:
    image: Image
    future: Future[EvidenceImage]


class EvidenceEncoder:
    """``encode`` from any thread; jobs run in submission order on the ``evidence-encoder`` thread."""

    def __init__(self, config: EvidenceConfig, registry: CollectorRegistry) -> None:
        self._quality = config.jpeg_quality
        self._max_width = config.max_width
        self._jobs: collections.deque[_Job] = collections.deque()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="evidence-encoder", daemon=True)
        self._encoded = Counter("edge_gateway_evidence_images", "Evidence images encoded.", registry=registry)
        self._bytes = Counter(
            "edge_gateway_evidence_bytes", "Bytes of evidence images encoded.", registry=registry
        )
        self._failed = Counter(
            "edge_gateway_evidence_failures",
            "Frames that could not be encoded (their alerts carry no evidence).",
            registry=registry,
        )
        self._cpu = Summary(
            "edge_gateway_evidence_encode_cpu_seconds",
            "CPU time of the encoder thread per evidence image (scale, JPEG, SHA-256).",
            registry=registry,
        )

    def start(self) -> None:
        self._thread.start()

    def encode(self, image: Image) -> Future[EvidenceImage]:
        """Queue ``image``; never blocks. After ``stop`` the Future fails with EvidenceError."""
        future: Future[EvidenceImage] = Future()
        with self._changed:
            if self._stopping:
                future.set_exception(EvidenceError("the evidence encoder has stopped"))
                return future
            self._jobs.append(_Job(image, future))
            self._changed.notify()
        return future

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Encode what is queued, then end the thread."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._changed:
            left = list(self._jobs)
            self._jobs.clear()
        for job in left:
            job.future.set_exception(EvidenceError("the evidence encoder stopped before this frame"))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._jobs and not self._stopping:
                    self._changed.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            started = time.thread_time()
            try:
                image = encode_evidence(job.image, quality=self._quality, max_width=self._max_width)
            except EvidenceError as exc:
                self._failed.inc()
                job.future.set_exception(exc)
                continue
            except Exception as exc:  # a bug: the alert still goes, without its evidence
                logger.exception("evidence encoder failed")
                self._failed.inc()
                job.future.set_exception(EvidenceError(f"evidence encoder failed: {exc}"))
                continue
            self._cpu.observe(time.thread_time() - started)
            self._encoded.inc()
            self._bytes.inc(image.evidence.bytes)
            job.future.set_result(image)
