"""Evidence through the alert decider: starts carry the frame that fired them, encoded off the rule
path; alerts stay in decision order while an image is being made; held frames are bounded; an image
that cannot be made leaves its alerts without evidence, counted, never dropped."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future

import cv2
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from gateway.config import EvidenceConfig
from gateway.decider import AlertDecider
from gateway.delivery.evidence import EvidenceEncoder
from gateway.domain import AlertKind, Detection, Evidence, EvidenceImage, Frame, Image
from gateway.errors import EvidenceError
from tests.unit.test_decider import PERSON, TRACKERS, Clock, FakeSink, cameras, result, rule, wait_until

OTHER_PERSON = Detection("person", 0.9, (0.0, 0.6, 0.1, 0.95))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def frame_for(at: float, shade: int = 90, width: int = 320, height: int = 180) -> Frame:
    image = np.full((height, width, 3), shade, dtype=np.uint8)
    cv2.rectangle(image, (100, 80), (140, 170), (20, 200, 40), -1)
    return Frame("gate", round(at * 10), at, at, image)


class GatedEncoder:
    """Hands out futures the test completes, to stand in for an encoder that is slow or fails."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Image, Future[EvidenceImage]]] = []

    def encode(self, image: Image) -> Future[EvidenceImage]:
        future: Future[EvidenceImage] = Future()
        self.jobs.append((image, future))
        return future

    def finish(self, index: int = 0) -> None:
        image, future = self.jobs[index]
        ok, buffer = cv2.imencode(".jpg", image)
        assert ok
        data = buffer.tobytes()
        height, width = image.shape[:2]
        evidence = Evidence(hashlib.sha256(data).hexdigest(), len(data), "image/jpeg", width, height)
        future.set_result(EvidenceImage(evidence, data))


def missing(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("edge_gateway_evidence_missing_total", {"reason": reason}) or 0.0


def test_a_start_carries_its_own_frame_as_a_signed_jpeg_and_nothing_else_does(clock: Clock) -> None:
    registry = CollectorRegistry()
    encoder = EvidenceEncoder(EvidenceConfig(jpeg_quality=90, max_width=160), registry)
    encoder.start()
    sink = FakeSink()
    decider = AlertDecider(
        sink, cameras(rule()), announce=lambda _a: None, registry=registry, clock=clock,
        trackers=TRACKERS, evidence=encoder,
    )  # fmt: skip
    decider.start()
    # Given the start's frame and a later frame of the same event with another picture
    firing = frame_for(1.0, shade=90)
    decider.submit(result(1.0, PERSON), firing)
    decider.submit(result(1.2, PERSON), frame_for(1.2, shade=200))
    assert decider.stop(5.0)
    encoder.stop()
    start, end = sink.committed
    assert (start.event.kind, end.event.kind) == (AlertKind.START, AlertKind.END)
    # Then the start's evidence is the firing frame, scaled to max_width, and its digest is the bytes'
    evidence = start.event.evidence
    assert evidence is not None
    image = sink.images[0]
    assert image is not None
    assert evidence.sha256 == hashlib.sha256(image).hexdigest()
    assert (evidence.bytes, evidence.type, evidence.width, evidence.height) == (
        len(image),
        "image/jpeg",
        160,
        90,
    )
    decoded = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    expected = cv2.resize(firing.image, (160, 90), interpolation=cv2.INTER_AREA)
    assert float(np.abs(decoded.astype(int) - expected.astype(int)).mean()) < 3.0
    assert end.event.evidence is None
    assert sink.images[1] is None
    assert registry.get_sample_value("edge_gateway_evidence_images_total") == 1
    assert registry.get_sample_value("edge_gateway_evidence_frames_held_bytes") == 0


def test_alerts_decided_while_an_image_is_encoded_wait_behind_it(clock: Clock) -> None:
    encoder = GatedEncoder()
    sink = FakeSink()
    decider = AlertDecider(
        sink, cameras(rule()), announce=lambda _a: None, registry=CollectorRegistry(), clock=clock,
        trackers=TRACKERS, evidence=encoder,
    )  # fmt: skip
    decider.start()
    # Given a start whose image is slow, and an end decided meanwhile (end_after_s 5 has passed)
    decider.submit(result(1.0, PERSON), frame_for(1.0))
    decider.submit(result(7.0), frame_for(7.0))
    assert wait_until(lambda: decider.held == 2)
    # Then nothing reaches the sink before the start's image: the decider went on deciding
    assert sink.committed == []
    # When the image is ready, the start goes first with it, then the end
    encoder.finish()
    assert wait_until(lambda: len(sink.committed) == 2)
    assert [alert.event.kind for alert in sink.committed] == [AlertKind.START, AlertKind.END]
    assert sink.committed[0].event.evidence is not None
    assert len(encoder.jobs) == 1  # the end's frame was released without being encoded
    assert decider.stop(5.0)


def test_frames_beyond_the_bound_are_not_held_and_their_starts_go_without_evidence(clock: Clock) -> None:
    registry = CollectorRegistry()
    encoder = GatedEncoder()
    sink = FakeSink()
    frame = frame_for(1.0)
    decider = AlertDecider(
        sink, cameras(rule()), announce=lambda _a: None, registry=registry, clock=clock,
        trackers=TRACKERS, evidence=encoder, max_held_frame_bytes=frame.image.nbytes,
    )  # fmt: skip
    decider.start()
    # Given one frame held while its image is made (the bound is one frame)
    decider.submit(result(1.0, PERSON), frame)
    assert wait_until(lambda: len(encoder.jobs) == 1)
    # When a second person starts an event on the next frame
    decider.submit(result(1.2, PERSON, OTHER_PERSON), frame_for(1.2))
    assert wait_until(lambda: decider.held == 2)
    encoder.finish()
    assert wait_until(lambda: len(sink.committed) == 2)
    # Then that frame was not held: its start is committed, without evidence, and counted
    first, second = sink.committed
    assert first.event.evidence is not None
    assert (second.event.kind, second.event.evidence) == (AlertKind.START, None)
    assert registry.get_sample_value("edge_gateway_evidence_frames_refused_total") == 1
    assert missing(registry, "frames_full") == 1
    # And once encoded, the held frame is released
    assert registry.get_sample_value("edge_gateway_evidence_frames_held_bytes") == 0
    assert decider.stop(5.0)


def test_an_image_that_fails_or_never_comes_leaves_its_alert_without_evidence(clock: Clock) -> None:
    registry = CollectorRegistry()
    encoder = GatedEncoder()
    sink = FakeSink()
    decider = AlertDecider(
        sink, cameras(rule()), announce=lambda _a: None, registry=registry, clock=clock,
        trackers=TRACKERS, evidence=encoder, evidence_timeout_s=0.3,
    )  # fmt: skip
    decider.start()
    decider.submit(result(1.0, PERSON), frame_for(1.0))
    assert wait_until(lambda: len(encoder.jobs) == 1)
    encoder.jobs[0][1].set_exception(EvidenceError("JPEG encoding failed"))
    assert wait_until(lambda: len(sink.committed) == 1)
    decider.submit(result(1.2, PERSON, OTHER_PERSON), frame_for(1.2))
    # The second image never comes: after the timeout the start goes without it.
    assert wait_until(lambda: len(sink.committed) == 2, timeout_s=5.0)
    assert [alert.event.evidence for alert in sink.committed] == [None, None]
    assert (missing(registry, "encode_failed"), missing(registry, "timeout")) == (1, 1)
    assert decider.stop(5.0)


def test_without_an_encoder_frames_are_not_held_and_alerts_carry_none(clock: Clock) -> None:
    registry = CollectorRegistry()
    sink = FakeSink()
    decider = AlertDecider(
        sink, cameras(rule()), announce=lambda _a: None, registry=registry, clock=clock, trackers=TRACKERS
    )
    decider.start()
    decider.submit(result(1.0, PERSON), frame_for(1.0))
    assert decider.stop(5.0)
    assert [alert.event.evidence for alert in sink.committed] == [None, None]
    assert missing(registry, "no_frame") == 0
