"""Received alert values that only look right: a digest with a line break after it, text that holds a
JSON escape of a lone surrogate (which no UTF-8, the contract's encoding, can carry)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gateway.domain import Evidence
from gateway.protocol.alerts import (
    ZERO_HASH,
    InvalidAlertError,
    build_alert_payload,
    decode_alert,
    verify_payload,
)
from tests.unit.protocol.alert_events import alert_event

KEY = b"k" * 32
DIGEST = "ab" * 32
LONE_SURROGATE = "\ud800"


def fields() -> dict[str, Any]:
    event = alert_event(evidence=Evidence(DIGEST, 1234, "image/jpeg", 640, 360))
    _, payload = build_alert_payload("jetson-01", 1, event, ZERO_HASH, KEY)
    data: dict[str, Any] = json.loads(payload)
    return data


def _set_evidence(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["evidence"][name] = value

    return change


def _set_device(value: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["device_id"] = value
        data["alert_id"] = f"{value}:1"

    return change


def _set_model_name(value: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["model"]["name"] = value

    return change


def _set(field: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data[field] = value

    return change


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set("prev_hash", ZERO_HASH + "\n"), "prev_hash"),
        (_set("hash", DIGEST + "\n"), "hash"),
        (_set("sig", DIGEST + "\n"), "sig"),
        (_set_evidence("sha256", DIGEST + "\n"), "evidence"),
    ],
)
def test_a_digest_followed_by_a_line_break_is_refused(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    # given a payload whose digest is 64 hex digits and a newline: 65 characters, no digest
    data = fields()
    change(data)
    # when it is decoded, then the field is named
    with pytest.raises(InvalidAlertError) as caught:
        decode_alert(json.dumps(data).encode())
    assert caught.value.field == field
    assert "64 lowercase hex digits" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set("label", LONE_SURROGATE), "label"),
        (_set("rule", "in" + LONE_SURROGATE), "rule"),
        (_set("camera_id", LONE_SURROGATE), "camera_id"),
        (_set("event_id", LONE_SURROGATE), "event_id"),
        (_set("zone", LONE_SURROGATE), "zone"),
        (_set_device(LONE_SURROGATE), "device_id"),
        (_set_model_name(LONE_SURROGATE), "model"),
        (_set_evidence("type", LONE_SURROGATE), "evidence"),
    ],
)
def test_text_holding_a_lone_surrogate_escape_is_refused(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    # given valid JSON (json.dumps writes the surrogate as a \ud800 escape) that no UTF-8 can hold
    data = fields()
    change(data)
    payload = json.dumps(data).encode()
    assert b"\\ud800" in payload
    # when it is decoded or verified, then the field is named, not a UnicodeEncodeError from hashing
    for read in (decode_alert, lambda received: verify_payload(received, KEY)):
        with pytest.raises(InvalidAlertError) as caught:
            read(payload)
        assert caught.value.field == field
