"""A request's query parameters: one it does not take is named, not skipped, and so is one given
twice; and a listing's time bounds.

Skipped, it answered as if it had not been given, which looked like the answer asked for:
``camra=door`` (or ``zone=door``, a filter ``/v1/events`` does not have) listed every camera's
alerts, and ``form_seq=500`` read a device's alerts from its first.

``since`` and ``until`` (the gateway's ``/v1/events``, the audit service's device alerts) are RFC 3339
times naming their zone, as an alert's ``frame_ts`` is written; ``since`` is inclusive, ``until``
exclusive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from multidict import MultiMapping

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


def given_once(query: MultiMapping[str], name: str, refused: Callable[[str], Exception]) -> str | None:
    """The query parameter ``name`` (None when not given); ``refused(message)`` raised when it is
    given more than once. Each takes one value (one camera, say): the first of several was used
    alone, so ``camera=a&camera=b`` answered with camera a's events as if both were asked for."""
    values = query.getall(name, [])
    if len(values) > 1:
        raise refused(f"{name} is given {len(values)} times: give it once")
    return values[0] if values else None


TIME_EXAMPLE = "2026-12-04T22:00:00Z"
_UNESCAPED_PLUS = re.compile(r"^(.+[Tt ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")
_RFC_3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)?")
"""RFC 3339's date-time (section 5.6; the zone is checked on its own): ``fromisoformat`` also reads
ISO 8601's other forms (``2026-W49-5``, ``20261204T220000Z``, a time without seconds), which the
contract does not name, so a client relying on one would break where another server reads RFC 3339."""


def query_time(name: str, text: str) -> float:
    """``text``, the query parameter ``name``, as seconds since the epoch; ValueError naming the
    parameter when it is no RFC 3339 time naming its zone (``2026-12-04T22:00:00Z``,
    ``2026-12-04T23:00:00+01:00``)."""
    # A "+" a query does not escape reads as a space: "...T23:00:00+01:00" arrives "...T23:00:00 01:00".
    written = _UNESCAPED_PLUS.sub(r"\1+\2", text)
    try:
        moment = datetime.fromisoformat(written) if _RFC_3339.fullmatch(written) else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"{name} must be a time such as {TIME_EXAMPLE}, got {text!r}")
    if moment.tzinfo is None:
        # Read as the server's local time, it would mean another hour on each box.
        raise ValueError(f"{name} must name its time zone ({TIME_EXAMPLE}, or +01:00), got {text!r}")
    return moment.timestamp()


def time_bounds(since_text: str | None, until_text: str | None) -> tuple[float | None, float | None]:
    """``since`` and ``until`` as seconds since the epoch (None: not given); ValueError naming the
    parameter when one is unreadable, or when ``until`` is not later than ``since``."""
    since = None if since_text is None else query_time("since", since_text)
    until = None if until_text is None else query_time("until", until_text)
    if since is not None and until is not None and until <= since:
        raise ValueError(f"until must be later than since, got since={since_text!r}, until={until_text!r}")
    return since, until
