"""Camera readers (RTSP, MJPEG, files), newest-frame slots and motion gating.

- ``sources``: ``source_factory(CameraConfig)``, and the names below, in one place for callers.
- ``frame_source``: the ``FrameSource`` protocol and ``SourceFactory``.
- ``opencv_source``: ``OpenCvSource`` (FFmpeg backend with bounded timeouts, GStreamer backend where
  OpenCV has it), ``gstreamer_available()``; ``network_probe``: the TCP check before a network open.
- ``camera``: ``Camera``, one named reader thread per camera with the state machine of ``state``,
  backoff from ``backoff``, a watchdog and a one-frame slot (newest wins).
- ``motion``: ``MotionGate``, the per-camera cheap motion detector.
- ``snapshot``: ``draw_snapshot``, the newest frame with detections and zones, as JPEG.
- ``ffmpeg_environment``: the process-wide FFmpeg options and log levels OpenCV reads at each open.
- ``files``: what a file camera's URL or path names (a video, an image sequence and its first
  number) or why it cannot open, and whether the file changed while it played; ``audio_only``:
  whether a file holds sound and no picture, from its container's headers; ``file_diagnosis``: why
  a video file did not open (an MP4 still being recorded); both walk an MP4's boxes with ``mp4_boxes``.
- ``image_sequence``: an image sequence played run by run (past gaps, each picture size at its own).
- ``file_parts``: which bytes of a video file play next, so each picture size plays at its own: a
  raw stream's parts (``elementary``, on ``h264``/``h265``/``bitstream``), a container's rest once
  its size changes (``container_sizes``), each through a ``file_range.FileRange``; a raw stream's
  and a transport stream's (``transport_stream``) parts found a step at a time as playback nears
  them (``part_scan``).
- ``rtsp_diagnosis``: why an RTSP stream did not open, from the server's own answers.
- ``urls``: ``redact_url`` (credentials never leave this package unredacted) and ``source_kind``.

``cameras.CameraPipeline`` puts them together with ``sampler.Sampler``, a detector and a result sink.
"""
