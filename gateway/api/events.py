"""``/v1/events/{seq}`` and ``/v1/events/{seq}/evidence.jpg``: one alert, and the image that fired it.

The alert is the stored one (alert v2 JSON, as published). The image is the evidence bytes exactly as
committed and published, so ``sha256sum`` of the download equals the alert's ``evidence.sha256``;
it never changes, so clients may cache it (keyed by its digest). A 404 says why there is no image:
no such alert in the outbox, an alert that carries none (only ``start`` and ``instant`` alerts do,
with ``outbox.evidence.enabled``), or an image pruned by retention after its delivery. The stored
bytes are hashed again before they are served, as the audit service does: an image that no longer
matches its alert's digest (changed on disk) is a 409 and logged, never served under that digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from aiohttp import web

from gateway.api.context import context_of, offload
from gateway.api.ports import EventLog
from gateway.domain import Alert, AlertKind, Evidence, EvidenceRecord, ascii_integer
from gateway.errors import InvalidInputError
from gateway.protocol.alerts import MAX_SEQ, alert_to_dict, format_timestamp

logger = logging.getLogger(__name__)

MISMATCHES_LOGGED: web.AppKey[set[int]] = web.AppKey("edge_gateway_evidence_mismatches_logged", set)
"""The seqs whose altered image was logged: each once, as the events page asks again at every view."""
MISMATCHES_LOGGED_AT_MOST = 256


def add_routes(app: web.Application) -> None:
    app[MISMATCHES_LOGGED] = set()
    app.router.add_get("/v1/events/{seq}", get_event, name="event")
    app.router.add_get("/v1/events/{seq}/evidence.jpg", get_evidence, name="event_evidence")


def _seq(request: web.Request) -> int:
    raw = request.match_info["seq"]
    seq = ascii_integer(raw)
    if seq is None or not 1 <= seq <= MAX_SEQ:
        raise InvalidInputError(f"seq must be an integer from 1 to {MAX_SEQ}, got {raw!r}")
    return seq


def _log(request: web.Request) -> EventLog:
    log = context_of(request).events
    if log is None:
        raise web.HTTPNotFound(text="this gateway keeps no event log")
    return log


def _no_alert(seq: int) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=f"no alert with seq {seq} in the outbox (not committed yet, or pruned)")


async def get_event(request: web.Request) -> web.Response:
    seq = _seq(request)
    log = _log(request)
    alert = await offload(request, lambda: log.alert(seq))
    if alert is None:
        raise _no_alert(seq)
    return web.json_response(alert_to_dict(alert))


async def get_evidence(request: web.Request) -> web.Response:
    seq = _seq(request)
    log = _log(request)
    # One read each, off the loop: the image can be a few hundred kilobytes.
    alert, record = await asyncio.gather(
        offload(request, lambda: log.alert(seq)), offload(request, lambda: log.evidence(seq))
    )
    evidence, data = _image(seq, alert, record)
    if not await offload(request, lambda: _matches(evidence, data)):
        _log_mismatch(request, seq, evidence, data)
        # As the audit service answers an image edited in its store: never served as the signed one.
        raise web.HTTPConflict(
            text=f"the stored evidence of alert {seq} does not match the digest its signed alert names "
            "(changed on disk since it was committed); the audit log keeps the copy it verified"
        )
    # The bytes under a digest never change: caching by it is always right.
    headers = {"ETag": f'"{evidence.sha256}"', "Cache-Control": "private, max-age=31536000, immutable"}
    if _known(request.headers.getall("If-None-Match", []), evidence.sha256):
        return web.Response(status=304, headers=headers)
    return web.Response(body=data, content_type=evidence.type, headers=headers)


def _matches(evidence: Evidence, data: bytes) -> bool:
    """Whether ``data`` is the image the alert's signature covers. Hashed at every request, off the
    loop (about 0.3 ms for 100 KB): the ETag and the immutable cache header promise exactly those
    bytes, and a byte changed on disk would otherwise be served under them."""
    return len(data) == evidence.bytes and hashlib.sha256(data).hexdigest() == evidence.sha256


def _log_mismatch(request: web.Request, seq: int, evidence: Evidence, data: bytes) -> None:
    logged = request.app[MISMATCHES_LOGGED]
    if seq in logged or len(logged) >= MISMATCHES_LOGGED_AT_MOST:
        return
    logged.add(seq)
    logger.error(
        "the stored evidence of alert %d does not match its signed alert (%d bytes with SHA-256 %s, "
        "stored %d bytes with SHA-256 %s): refused, not served; the outbox file was changed or damaged",
        seq,
        evidence.bytes,
        evidence.sha256,
        len(data),
        hashlib.sha256(data).hexdigest(),
    )


def _known(conditions: list[str], digest: str) -> bool:
    """Whether ``If-None-Match`` names the image. RFC 9110 lets it list tags, in one header or
    repeated, weak (``W/``, as a proxy that re-encodes marks what it passes on) or not, or be ``*``,
    and compares them weakly; only one exact strong tag matched, and other clients got every
    image's bytes again."""
    tags = {tag.strip().removeprefix("W/") for condition in conditions for tag in condition.split(",")}
    return bool(tags & {"*", f'"{digest}"'})


def _image(seq: int, alert: Alert | None, record: EvidenceRecord | None) -> tuple[Evidence, bytes]:
    if alert is None:
        raise _no_alert(seq)
    if alert.event.evidence is None and alert.event.kind in (AlertKind.START, AlertKind.INSTANT):
        raise web.HTTPNotFound(
            text=f"alert {seq} ({alert.event.kind.value}) was committed without evidence: "
            "outbox.evidence.enabled was off, or its frame could not be held or encoded in time "
            "(counted in edge_gateway_evidence_missing)"
        )
    if alert.event.evidence is None:
        raise web.HTTPNotFound(
            text=f"alert {seq} ({alert.event.kind.value}) carries no evidence: only start and instant "
            "alerts do, while outbox.evidence.enabled"
        )
    if record is not None and record.data is not None:
        return alert.event.evidence, record.data
    if record is not None and record.pruned_at is not None:
        raise web.HTTPNotFound(
            text=f"the evidence of alert {seq} was pruned at {format_timestamp(record.pruned_at)} after "
            "its delivery (outbox.max_bytes); the audit log keeps a copy"
        )
    raise web.HTTPNotFound(text=f"the evidence of alert {seq} is not in the outbox")
