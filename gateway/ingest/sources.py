"""Frame sources: the protocol the camera reader reads (``frame_source``), the real source on
OpenCV's FFmpeg or GStreamer backend (``opencv_source``, whose docstring has what was measured of
them), and ``source_factory``, which opens the real source for a camera's config."""

from __future__ import annotations

from gateway.config import CameraConfig
from gateway.ingest.frame_source import (
    FrameSource,
    Interruptible,
    ReportsFrameRate,
    SourceFactory,
    interrupt,
    nominal_fps,
)
from gateway.ingest.opencv_source import READ_RETRIES, OpenCvSource, gstreamer_available

__all__ = [
    "READ_RETRIES",
    "FrameSource",
    "Interruptible",
    "OpenCvSource",
    "ReportsFrameRate",
    "SourceFactory",
    "gstreamer_available",
    "interrupt",
    "nominal_fps",
    "source_factory",
]


def source_factory(config: CameraConfig) -> SourceFactory:
    """The real source for a camera's config."""

    def open_source() -> FrameSource:
        return OpenCvSource(
            config.url,
            open_timeout_s=config.open_timeout_s,
            read_timeout_s=config.read_timeout_s,
            decoder=config.decoder,
            gstreamer_pipeline=config.gstreamer_pipeline,
        )

    return open_source
