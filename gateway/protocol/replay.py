"""The replay request both sides agree on (DESIGN.md, MQTT contract: ``{prefix}/{device_id}/replay``).

``{"from_seq": a, "to_seq": b}`` asks a device to publish alerts a..b again. A device answers at most
MAX_REPLAY_RANGE seqs per request and refuses a longer one, and a replay takes at least half of its
delivery window while it lasts, so the audit side asks for at most that many seqs at a time,
whatever the gap: a longer gap is asked for piece by piece, the next once the request is due again.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MAX_REPLAY_RANGE", "replay_pieces"]

MAX_REPLAY_RANGE = 100_000


def replay_pieces(ranges: Iterable[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """The first of the inclusive ranges (lowest first), at most ``limit`` of them and MAX_REPLAY_RANGE
    seqs in all, the last one cut short where the budget ends."""
    pieces: list[tuple[int, int]] = []
    budget = MAX_REPLAY_RANGE
    for first, last in ranges:
        if budget <= 0 or len(pieces) >= limit:
            break
        end = min(last, first + budget - 1)
        pieces.append((first, end))
        budget -= end - first + 1
    return pieces
