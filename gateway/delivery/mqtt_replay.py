"""Replay requests: the payload a device takes on ``{prefix}/{device_id}/replay``, parsed and checked.

``{"from_seq": a, "to_seq": b}`` asks for seqs a..b (at most MAX_REPLAY_RANGE of them) to be
published again from the outbox, byte-identical; the publisher queues at most REPLAY_QUEUE_SIZE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.errors import BrokerError
from gateway.protocol.alerts import MAX_SEQ
from gateway.protocol.replay import MAX_REPLAY_RANGE

REPLAY_QUEUE_SIZE = 64


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    from_seq: int
    to_seq: int


def parse_replay_request(payload: bytes) -> ReplayRequest:
    try:
        data = json.loads(payload)
        from_seq, to_seq = data["from_seq"], data["to_seq"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BrokerError(f'replay request must be {{"from_seq": a, "to_seq": b}}: {exc}') from exc
    except RecursionError:
        # Raised in paho's network thread, it would end that thread: no acks read, no reconnects.
        raise BrokerError("replay request: JSON nested too deeply") from None
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (from_seq, to_seq)):
        raise BrokerError("replay request: from_seq and to_seq must be integers")
    if not 1 <= from_seq <= to_seq <= MAX_SEQ or to_seq - from_seq >= MAX_REPLAY_RANGE:
        raise BrokerError(
            f"replay request: need 1 <= from_seq <= to_seq <= {MAX_SEQ}, at most {MAX_REPLAY_RANGE} alerts"
        )
    return ReplayRequest(from_seq, to_seq)
