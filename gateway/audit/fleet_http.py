"""The fleet routes of the audit HTTP API and the fleet page.

- ``GET /v1/devices?after=&limit=``: the devices the store knows or has a key for, by device id,
  each with its state from its status topic, last seq, last alert time, gaps, evidence missing,
  rejected count, lag and the problems the page shows (``gateway.audit.fleet_view``), plus the
  whole fleet's summary. A page holds at most ``limit`` devices (default 100, at most 1000), those
  whose id sorts after ``after`` (a device id; absent: from the first); ``next_after`` is the id to
  give as ``after`` for the next page, null on the last. A fleet of a thousand devices was one
  answer of 782 KB; one no larger than the default limit is still one page. Read from the store,
  so every audit instance answers the same.
- ``GET /v1/fleet``: the summary alone, as ``/v1/devices`` has it (the page's badge, on every page
  and every refresh, without the device list).
- ``GET /v1/devices/{device_id}``: that one device as ``/v1/devices`` lists it (404 when the store
  and the keys file know no such device), so a device page need not read the whole fleet.
- ``GET /v1/devices/{device_id}/alerts?from_seq=&limit=&since=&until=``: the device's stored alerts
  in seq order from ``from_seq`` (default 1), at most ``limit`` (default 100, at most 1000): each the
  signed alert as stored, when it arrived, its lag, and whether its evidence image is stored;
  ``next_from_seq`` continues the page. ``since`` / ``until`` (RFC 3339 naming its zone, as on the
  gateway's ``/v1/events``) keep the alerts whose alert time (``frame_ts``) is at or after ``since``
  and before ``until``: a night's alerts without paging through the device's whole history.
- ``GET /metrics``: this instance's counters (Prometheus text) and the fleet's gauges.
- ``GET /`` and ``GET /console/{name}``: the fleet page, in the console's style and with its shared
  assets (``gateway.web``); open, like the console's, because the login form must load first.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.audit.fleet import DeviceState, StoredEntry
from gateway.audit.fleet_view import device_json, fleet_registry, summary, with_keyed
from gateway.audit.http_context import REGISTRY, read
from gateway.audit.keys_file import quoted_id
from gateway.audit.store import AuditStore
from gateway.domain import ascii_integer
from gateway.protocol.alerts import format_timestamp, parse_timestamp
from gateway.web.assets import Asset, answer, find, load_assets
from gateway.web.query import given_once, time_bounds, unknown_parameter
from gateway.web.session import OPEN_PREFIX

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_DEVICES = 100
MAX_DEVICES = 1000
ASSETS: web.AppKey[dict[str, Asset]] = web.AppKey("edge_gateway_fleet_assets", dict)


def add_routes(app: web.Application) -> None:
    app[ASSETS] = load_assets("gateway.audit")
    app.router.add_get("/v1/devices", devices, name="devices")
    app.router.add_get("/v1/fleet", fleet_summary, name="fleet_summary")
    app.router.add_get("/v1/devices/{device_id}", one_device, name="device")
    app.router.add_get("/v1/devices/{device_id}/alerts", device_alerts, name="device_alerts")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_get("/", page, name=f"{OPEN_PREFIX}fleet")
    app.router.add_get("/console/{name}", asset, name=f"{OPEN_PREFIX}fleet_asset")


async def devices(request: web.Request) -> web.Response:
    _refuse_unknown_parameters(request, "/v1/devices", ("after", "limit"))
    after = _device_cursor(request)
    limit = _positive(request, "limit", DEFAULT_DEVICES, MAX_DEVICES)

    def page_of(store: AuditStore) -> tuple[list[DeviceState], dict[str, int], list[DeviceState], bool]:
        # The summary needs every device but not their gaps: those are read for the page's alone.
        counts = store.key_counts
        everything = with_keyed(store.devices(gaps=False), counts)
        following = [state for state in everything if after is None or state.device_id > after]
        return everything, counts, store.with_gaps(following[:limit]), len(following) > limit

    everything, counts, shown, more = await read(request, page_of)
    body = {
        "devices": [device_json(state, counts.get(state.device_id, 0)) for state in shown],
        "summary": summary(everything, frozenset(counts)),
        "next_after": shown[-1].device_id if more else None,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def _refuse_unknown_parameters(request: web.Request, path: str, accepted: tuple[str, ...]) -> None:
    unknown = unknown_parameter(request.query, path, accepted)
    if unknown is not None:
        raise web.HTTPBadRequest(text=unknown)


def _device_cursor(request: web.Request) -> str | None:
    after = _given_once(request, "after")
    if after == "":
        raise web.HTTPBadRequest(text="after must be a device id (next_after of the page before), got ''")
    return after


async def fleet_summary(request: web.Request) -> web.Response:
    states, keyed = await read(request, lambda store: (store.devices(gaps=False), store.keyed_devices))
    body = {"summary": summary(with_keyed(states, keyed), keyed)}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def one_device(request: web.Request) -> web.Response:
    device_id = request.match_info["device_id"]
    states, counts = await read(request, lambda store: (store.devices(device_id), store.key_counts))
    keys = counts.get(device_id, 0)
    found = [
        state for state in with_keyed(states, [device_id] if keys else []) if state.device_id == device_id
    ]
    if not found:
        raise web.HTTPNotFound(text=f"no device {quoted_id(device_id)} in the audit log or the keys file")
    return web.json_response(device_json(found[0], keys), headers={"Cache-Control": "no-store"})


def _given_once(request: web.Request, name: str) -> str | None:
    return given_once(request.query, name, _bad_request)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


def _positive(request: web.Request, name: str, default: int, most: int) -> int:
    # One value each: the first of several was used alone, so ``from_seq=1&from_seq=500`` answered
    # from 1 as if the caller had asked for that.
    raw = _given_once(request, name)
    if raw is None:
        return default
    number = ascii_integer(raw)
    if number is None or not 1 <= number <= most:
        raise web.HTTPBadRequest(text=f"{name} must be an integer from 1 to {most}, got {raw!r}")
    return number


async def device_alerts(request: web.Request) -> web.Response:
    _refuse_unknown_parameters(request, "/v1/devices/{id}/alerts", ("from_seq", "limit", "since", "until"))
    device_id = request.match_info["device_id"]
    from_seq = _positive(request, "from_seq", 1, 2**63 - 1)
    limit = _positive(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    try:
        since, until = time_bounds(_given_once(request, "since"), _given_once(request, "until"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    bounded = since is not None or until is not None

    def page_of(store: AuditStore) -> tuple[list[StoredEntry], bool, list[DeviceState], frozenset[str]]:
        # The alerts first, then the device's last seq: alerts stored in between only raise it, so
        # a full page is never taken for the last. Read the other way round, alerts that arrived
        # between the two reads filled the page past the last seq read, and next_from_seq said
        # there was no more.
        entries = store.entries(device_id, from_seq, limit, since=since, until=until)
        # Within time bounds the device's last seq says nothing of what is left to show: asked.
        more = (
            bool(entries)
            and bounded
            and store.entries_after(device_id, entries[-1].seq, since=since, until=until)
        )
        return entries, more, store.devices(device_id, gaps=False), store.keyed_devices

    entries, more, states, keyed = await read(request, page_of)
    state = states[0] if states else None
    if state is None and device_id not in keyed:
        raise web.HTTPNotFound(text=f"no device {quoted_id(device_id)} in the audit log or the keys file")
    if not bounded:
        # A page may end before ``limit`` (its alerts' bytes are bounded): more follow while the
        # last one shown is not the device's last.
        more = bool(entries) and state is not None and entries[-1].seq < state.last_seq
    body = {
        "device_id": device_id,
        "last_seq": 0 if state is None else state.last_seq,
        "alerts": [_entry(entry) for entry in entries],
        "next_from_seq": entries[-1].seq + 1 if more else None,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def _entry(entry: StoredEntry) -> dict[str, Any]:
    try:
        alert = json.loads(entry.payload)
    except ValueError:  # an edit behind the store's back: audit verify names it
        alert = None
    frame_ts = alert.get("frame_ts") if isinstance(alert, dict) else None
    try:
        lag = round(entry.received_at - parse_timestamp(frame_ts), 3) if isinstance(frame_ts, str) else None
    except ValueError:
        lag = None
    evidence = alert.get("evidence") if isinstance(alert, dict) else None
    return {
        "seq": entry.seq,
        "received_at": format_timestamp(entry.received_at),
        "lag_s": lag,
        "evidence_stored": None if not evidence else not entry.evidence_missing,
        "alert": alert,
    }


async def metrics(request: web.Request) -> web.Response:
    states, keyed = await read(request, lambda store: (store.devices(gaps=False), store.keyed_devices))
    figures = summary(with_keyed(states, keyed), keyed)
    own: CollectorRegistry | None = request.app.get(REGISTRY)
    body = (generate_latest(own) if own is not None else b"") + generate_latest(fleet_registry(figures))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def page(request: web.Request) -> web.Response:
    return answer(request, request.app[ASSETS]["fleet.html"])


async def asset(request: web.Request) -> web.Response:
    return answer(request, find(request.app[ASSETS], request.match_info["name"]))
