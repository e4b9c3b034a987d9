"""A gateway stand-in run as a separate process so tests can SIGKILL it mid-publish.

    python -m tests.integration.delivery.publisher_process STATE_DIR BROKER_URL COUNT [--batch N]

Appends COUNT alerts (in batches, printing ``committed SEQ`` after each durable commit), publishes
everything undelivered, prints ``drained`` once the outbox has nothing pending, then stops cleanly.
With ``--most-pending N`` it appends only while fewer than N alerts wait for delivery, so that a
kill after some deliveries lands among its appends however slowly they are delivered.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.config import MqttConfig
from gateway.delivery.mqtt import MqttPublisher
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import AlertEvent, AlertKind, ModelRef

DEVICE_ID = "box-1"


def event(number: int) -> AlertEvent:
    return AlertEvent(
        event_id=f"gate:intrusion:{number}",
        kind=AlertKind.START,
        camera_id="gate",
        rule="intrusion",
        label="person",
        score=0.75,
        zone="yard",
        box=(0.1, 0.2, 0.3, 0.4),
        frame_ts=1_764_000_000.0 + number / 10,
        model=ModelRef("person-detector", 1),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--pause-s", type=float, default=0.005)
    parser.add_argument("--most-pending", type=int, default=None)
    arguments = parser.parse_args(argv)
    config = MqttConfig(url=arguments.url, max_inflight=32, reconnect_min_s=0.1, reconnect_max_s=1.0)
    outbox = Outbox(arguments.state_dir, DEVICE_ID, load_or_create_key(arguments.state_dir))
    publisher = MqttPublisher(config, DEVICE_ID, outbox, CollectorRegistry())
    publisher.start()
    done = 0
    while done < arguments.count:
        size = min(arguments.batch, arguments.count - done)
        alerts = outbox.append_many([event(done + index) for index in range(size)])
        done += size
        print(f"committed {alerts[-1].seq}", flush=True)
        time.sleep(arguments.pause_s)
        while arguments.most_pending is not None and outbox.stats().pending >= arguments.most_pending:
            time.sleep(0.01)
    while outbox.stats().pending:
        time.sleep(0.05)
    print("drained", flush=True)
    publisher.stop()
    outbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
