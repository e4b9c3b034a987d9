"""Pure rules: zones, dwell, cooldown and the event lifecycle that turns detections into alerts."""
