"""Camera readers (RTSP, MJPEG, files), newest-frame slots and motion gating."""
