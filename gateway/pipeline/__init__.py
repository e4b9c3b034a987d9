"""The wiring: the one place that builds the device-side parts from config and puts them together.

- ``gateway``: ``Gateway``, the composition root (cameras -> inference -> decider -> outbox -> MQTT),
  with ``from_config`` building the real parts; ``start``/``stop``/``reload``/health.
- ``specs``: config -> the plain specs the pure parts take (rules, trackers).
- ``camera_changes``: what a reload applies to a running camera and what waits for a restart.
- ``rule_labels``: rules following labels their camera's model does not have.
"""

from gateway.pipeline.gateway import Gateway

__all__ = ["Gateway"]
