"""What happens once an alert is durable: metrics, a log line, and the optional echo on stdout."""

from __future__ import annotations

import logging
from typing import TextIO

from prometheus_client import CollectorRegistry, Counter

from gateway.domain import Alert
from gateway.printable import printable
from gateway.protocol.alerts import encode_alert

logger = logging.getLogger("gateway.pipeline.gateway")
"""The name the gateway's alert lines have always carried: log readers select them by it."""


class AlertAnnouncer:
    """What happens once an alert is durable: metrics, a log line (with why an event ended), and the
    optional echo stream."""

    def __init__(self, registry: CollectorRegistry, echo: TextIO | None) -> None:
        self._echo = echo
        self._alerts = Counter(
            "edge_gateway_alerts_total",
            "Alerts committed to the outbox.",
            ["camera", "kind"],
            registry=registry,
        )
        self._ended = Counter(
            "edge_gateway_events_ended_total",
            "Events ended, by why: cleared, max_duration, rule_changed, stopped, recovered.",
            ["camera", "reason"],
            registry=registry,
        )

    def __call__(self, alert: Alert) -> None:
        event = alert.event
        self._alerts.labels(event.camera_id, event.kind.value).inc()
        reason = ""
        if event.end_reason is not None:
            self._ended.labels(event.camera_id, event.end_reason.value).inc()
            reason = f" reason={event.end_reason.value}"
        logger.info(
            "alert %s %s rule=%s label=%s score=%.2f%s",
            alert.alert_id,
            event.kind.value,
            event.rule,
            printable(event.label),  # the model's own text (its model.yaml)
            event.score,
            reason,
            extra={"camera": event.camera_id, "model": str(event.model)},
        )
        if self._echo is not None:
            self._echo_alert(self._echo, alert)

    def _echo_alert(self, echo: TextIO, alert: Alert) -> None:
        """One JSON line on the echo stream, its bytes as signed: through the stream's binary buffer
        where it has one, so no text encoding (``PYTHONIOENCODING=ascii``) refuses a label. A stream
        that fails (a closed pipe: ``serve | head``; a full disk; ``/dev/full``) is a side channel lost:
        said once and left, the alerts committed and delivered as before. It killed the decider's
        thread, and with it every alert after, on each restart again."""
        line = encode_alert(alert) + b"\n"
        try:
            buffer = getattr(echo, "buffer", None)
            if buffer is not None:
                echo.flush()  # whatever was written as text goes first
                buffer.write(line)
                buffer.flush()
            else:
                echo.write(line.decode("utf-8"))
                echo.flush()
        except (OSError, ValueError) as exc:
            self._echo = None
            logger.error(
                "alerts can no longer be echoed to standard output (%s): the echo stops; alerts are still "
                "committed to the outbox and delivered",
                exc,
            )
