"""Frames held for evidence: kept while they may still become evidence, their bytes bounded.

A result arrives with its frame, held only while it may still become evidence: until the rules have
judged it, or, when they started an event or crossed a line on it, until the ``evidence`` encoder
(its own thread: the decider never waits on it) has made the JPEG, which the commit queue attaches
to those alerts, in decision order. The bytes of held frames are bounded (``max_bytes``): a frame
beyond the bound is not held, counted, and an event it starts goes without evidence.

``hold`` is called from camera callbacks, ``queue`` from the decider's thread; the encoder's done
callbacks release the bytes from its own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.commit_queue import EVIDENCE_KINDS, CommitQueue
from gateway.domain import AlertEvent, EvidenceImage, Image

MAX_HELD_FRAME_BYTES = 128 * 2**20
"""Frames held for evidence (queued for the rules or for the encoder), at most: about 45 frames of
720p or 20 of 1080p. Normally a handful are held: the rules take microseconds per result."""


class EvidenceSource(Protocol):
    """Turns a frame into its evidence image on a thread of its own."""

    def encode(self, image: Image) -> Future[EvidenceImage]:
        """Never blocks; the future fails (any exception) when no image can be made."""
        ...


class HeldFrames:
    def __init__(
        self,
        evidence: EvidenceSource | None,
        queue: CommitQueue,
        *,
        registry: CollectorRegistry,
        max_bytes: int = MAX_HELD_FRAME_BYTES,
    ) -> None:
        """``evidence`` None: no frame is held, alerts carry no evidence; ``queue`` takes the
        judged frames' alerts."""
        self._evidence = evidence
        self._queue = queue
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._bytes = 0
        self._frame_bytes = Gauge(
            "edge_gateway_evidence_frames_held_bytes",
            "Bytes of frames held because they may still become evidence (queued or encoding).",
            registry=registry,
        )
        self._frames_refused = Counter(
            "edge_gateway_evidence_frames_refused",
            "Frames not held for evidence: the held-frame bound was reached.",
            registry=registry,
        )

    def hold(self, image: Image | None) -> tuple[Image | None, bool]:
        """Hold the frame ``image`` of a result the decider accepted: (the image held, or None;
        whether the bound refused it)."""
        if image is None or self._evidence is None:
            return None, False
        with self._lock:
            refused = self._bytes + image.nbytes > self._max_bytes
            if not refused:
                self._bytes += image.nbytes
                self._frame_bytes.set(self._bytes)
        if refused:
            self._frames_refused.inc()
            return None, True
        return image, False

    def queue(self, events: Sequence[AlertEvent], image: Image | None, refused: bool) -> None:
        """Queue the alerts the rules decided on a frame (``image``, when held; ``refused`` when the
        bound refused it), with its evidence when they want it; the frame is released once the
        encoder is done with it, or now."""
        wanted = self._evidence is not None and any(event.kind in EVIDENCE_KINDS for event in events)
        if wanted and image is not None and self._evidence is not None:
            encoded = self._evidence.encode(image)
            # The frame stays held until the encoder is done with it.
            size = image.nbytes
            encoded.add_done_callback(lambda _future: self._release(size))
            self._queue.add(events, encoded)
            return
        if image is not None:
            self._release(image.nbytes)
        if wanted:
            self._queue.missing("frames_full" if refused else "no_frame", events)
        self._queue.add(events)

    def _release(self, size: int) -> None:
        with self._lock:
            self._bytes -= size
            self._frame_bytes.set(self._bytes)
