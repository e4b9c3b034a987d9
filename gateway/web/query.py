"""A listing's query parameters: one it does not take is named, not skipped.

Skipped, it answered as if it had not been given, which looked like the answer asked for:
``camra=door`` (or ``zone=door``, a filter ``/v1/events`` does not have) listed every camera's
alerts, and ``form_seq=500`` read a device's alerts from its first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.suggestions import closest


def unknown_parameter(given: Iterable[str], path: str, accepted: Sequence[str]) -> str | None:
    """What is wrong with the first of ``given`` that ``path`` does not take; None when it takes
    them all. ``accepted``: its parameters, in the order its documentation lists them."""
    for name in given:
        if name not in accepted:
            meant = closest(name, accepted)
            hint = "" if meant is None else f" (did you mean {meant!r}?)"
            return f"unknown query parameter {name!r}{hint}: {path} takes {', '.join(accepted)}"
    return None
