"""Multi-object tracking per camera: stable ids for detections across frames.

Pure: imports only ``gateway.domain`` and numpy; no I/O, no config, no clock (time comes with each
frame). ``gateway.pipeline`` builds a ``TrackerSpec`` from a camera's ``tracker:`` config and calls
``Tracker.update`` once per frame, in capture order.
"""

from gateway.tracking.spec import TrackerSpec
from gateway.tracking.tracker import Tracker, TrackerOutput

__all__ = ["Tracker", "TrackerOutput", "TrackerSpec"]
