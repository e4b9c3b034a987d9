from __future__ import annotations

import random

import pytest

from gateway.domain import DropReason
from gateway.ingest.backoff import Backoff
from gateway.ingest.counters import DropCounter, RateMeter
from gateway.ingest.urls import file_path, redact_url, source_kind


def test_backoff_grows_exponentially_within_bounds_and_resets() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(1))
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for ceiling in ceilings:
        delay = backoff.next_delay()
        assert 0.5 <= delay <= ceiling
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_spreads_cameras_apart() -> None:
    delays = set()
    for seed in range(20):
        backoff = Backoff(0.5, 30.0, random.Random(seed))
        for _ in range(5):
            delay = backoff.next_delay()
        delays.add(round(delay, 3))
    assert len(delays) > 10


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="minimum"):
        Backoff(2.0, 1.0)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:hunter2@10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
        ("rtsps://admin:hunter2@cam.local:322/a?b=1", "rtsps://cam.local:322/a?b=1"),
        ("rtsp://user@[fe80::1]:8554/x", "rtsp://[fe80::1]:8554/x"),
        ("http://cam/mjpg?user=u&password=hunter2&fps=5", "http://cam/mjpg?user=u&password=***&fps=5"),
        ("https://cam/video?token=hunter2", "https://cam/video?token=***"),
        ("rtsp://10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
        ("/srv/clips/demo.mp4", "/srv/clips/demo.mp4"),
        ("file:///srv/clips/demo.mp4", "file:///srv/clips/demo.mp4"),
        ("rtsp://a:hunter2@host:notaport/x", "rtsp://host/x"),
        ("http://cam/videostream.cgi?user=u&pw=hunter2", "http://cam/videostream.cgi?user=u&pw=***"),
        ("http://cam/v.cgi?loginuse=u&loginpas=hunter2", "http://cam/v.cgi?loginuse=u&loginpas=***"),
        # decoder gstreamer takes any scheme, so the config lets through a password holding '/' or '?'
        ("rtspt://admin:pa/hunter2@cam/s", "rtspt://cam/s"),
        ("rtspt://admin:pa?hunter2@cam:8554/s?token=hunter2", "rtspt://cam:8554/s?token=***"),
    ],
)
def test_redact_url_removes_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "hunter2" not in redact_url(url)


def test_source_kind_and_file_path() -> None:
    assert source_kind("RTSP://x/y") == "rtsp"
    assert source_kind("rtsps://x/y") == "rtsp"
    assert source_kind("https://x/y") == "http"
    assert source_kind("/a/b.mp4") == "file"
    assert source_kind("C:/a/b.mp4") == "file"
    assert file_path("file:///a/b.mp4") == "/a/b.mp4"
    assert file_path("/a/b.mp4") == "/a/b.mp4"


def test_rate_meter_counts_events_in_its_window() -> None:
    meter = RateMeter(window_s=5.0)
    assert meter.rate(0.0) == 0.0
    for index in range(26):
        meter.mark(100.0 + index * 0.04)
    assert meter.rate(101.0) == pytest.approx(25.0, rel=0.01)
    # Old events leave the window, so a stopped stream reads zero.
    assert meter.rate(110.0) == 0.0


def test_drop_counter_adds_by_reason() -> None:
    drops = DropCounter()
    drops.add(DropReason.MOTION)
    drops.add(DropReason.MOTION, 2)
    drops.add(DropReason.STALE)
    assert drops.snapshot() == {DropReason.MOTION: 3, DropReason.STALE: 1}
